"""The job queue on the Train page: text of a job's progress, the table of finished jobs, the live panel."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard.messages import for_people
from engine import jobs
from engine.jobs import JobView


def duration(seconds: float | None) -> str:
    """'1:05' / '1:02:03' or '-'."""
    if seconds is None:
        return "-"
    total = int(round(seconds))
    hours, rest = divmod(total, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def progress_text(job: JobView) -> str:
    """'#3 vae on toy (smoke): fit, epoch 2/10, loss 0.0123, ETA 0:42'."""
    parts = [f"#{job.id} {job.method} on {job.dataset} ({job.preset})"]
    if job.status == "QUEUED":
        return parts[0] + ": waiting for the worker"
    detail = [job.phase or "starting"]
    if job.epoch is not None:
        detail.append(f"epoch {job.epoch}/{job.epochs}")
    if job.loss is not None:
        detail.append(f"loss {job.loss:.4g}")
    if job.eta_seconds is not None:
        detail.append(f"ETA {duration(job.eta_seconds)}")
    if job.cancel_requested:
        detail.append("cancelling after this epoch")
    return f"{parts[0]}: {', '.join(detail)}"


def finished_table(views: list[JobView]) -> pd.DataFrame:
    rows = [
        {
            "job": v.id,
            "method": v.method,
            "dataset": v.dataset,
            "preset": v.preset,
            "status": v.status,
            "run": v.run_id,
            "took": duration((v.ended_at - v.started_at).total_seconds())
            if v.ended_at and v.started_at
            else "-",
            "ended (UTC)": v.ended_at.strftime("%Y-%m-%d %H:%M:%S") if v.ended_at else "",
            "error": for_people(v.error.splitlines()[0], path_word="a server file") if v.error else "",
        }
        for v in views
    ]
    return pd.DataFrame(
        rows, columns=["job", "method", "dataset", "preset", "status", "run", "took", "ended (UTC)", "error"]
    )


def queue_panel(executor: jobs.Executor, url: str) -> None:
    """Active jobs with progress and a cancel button, failures with their error, then finished jobs."""
    views = jobs.list_jobs(limit=60, db_url=url)
    active = [v for v in views if v.status in ("QUEUED", "RUNNING")]
    if any(v.status == "QUEUED" for v in active):
        executor.ensure_running()  # a worker that exited just before a job was queued
    worker = (
        "a worker is running"
        if executor.is_running()
        else "no worker running (one starts when a job is queued)"
    )
    st.caption(f"Queue: {len(active)} active job(s); {worker}. Refreshes every 2 s.")
    for v in reversed(active):
        left, right = st.columns([6, 1])
        left.progress(min(max(v.progress, 0.0), 1.0), text=progress_text(v))
        right.button(
            "Cancel",
            key=f"cancel-{v.id}",
            on_click=jobs.cancel,
            args=(v.id, url),
            disabled=v.cancel_requested,
            icon=":material/cancel:",
        )
    failed = [v for v in views if v.status == "FAILED"][:3]
    for v in failed:
        first, _, rest = (v.error or "unknown error").partition("\n")
        first = for_people(first, path_word="a server file")
        st.error(f"Job #{v.id} ({v.method} on {v.dataset}) failed: {first}", icon=":material/error:")
        if rest.strip():
            with st.expander(f"Details of job #{v.id}"):
                st.code(rest.strip(), language=None)
    done = [v for v in views if v.status not in ("QUEUED", "RUNNING")]
    if done:
        st.dataframe(finished_table(done), hide_index=True, width="stretch")
