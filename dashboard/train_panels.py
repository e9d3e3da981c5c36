"""The job queue on the Train page: text of a job's progress (with a smoothed ETA), the table of finished jobs
with their AUROC, Retry of failed and cancelled jobs, and the way from finished runs to Compare."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import streamlit as st

from dashboard import auth
from dashboard.messages import for_people
from dashboard.safe_text import literal
from db import runs as db_runs
from db.jobs import RETRIABLE
from db.store import Store
from engine import jobs
from engine.executors import Executor
from engine.jobs import JobView
from engine.methods.catalog import fits_without_loss

ETA_WEIGHT = 0.3  # share of a new raw ETA in the shown one: a jump of 60 s moves it 18 s per 2 s refresh
SHOWN_FAILURES = 3  # failed or cancelled jobs offered for Retry
COMPARE_PAGE = "dashboard/pages/compare.py"


@dataclass(frozen=True)
class ShownEta:
    seconds: float
    at: float  # time.monotonic() when shown


def smoothed_eta(
    previous: ShownEta | None, raw: float | None, now: float, weight: float = ETA_WEIGHT
) -> ShownEta | None:
    """Exponential smoothing of the worker's ETA: the previous shown ETA, counted down by the time since,
    blended with the new raw one; the first raw ETA is shown as is, and no raw ETA shows none."""
    if raw is None:
        return None
    if previous is None:
        return ShownEta(raw, now)
    counted_down = max(previous.seconds - (now - previous.at), 0.0)
    return ShownEta(weight * raw + (1 - weight) * counted_down, now)


def duration(seconds: float | None) -> str:
    """'1:05' / '1:02:03' or '-'."""
    if seconds is None:
        return "-"
    total = int(round(seconds))
    hours, rest = divmod(total, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def job_name(job: JobView) -> str:
    """'job #5', with the run it became once it has one ('job #5 → run #4'): the numbers Compare, Inspect
    and Review show are run numbers."""
    return f"job #{job.id}" + (f" → run #{job.run_id}" if job.run_id is not None else "")


def progress_text(job: JobView, eta: float | None = None) -> str:
    """'job #3 → run #7 · vae on toy (smoke): fit, epoch 2/10, loss 0.0123, ETA 0:42' (`eta`: the smoothed one,
    if any; no loss for methods without a training loss), as Markdown (the dataset name escaped)."""
    head = f"{job_name(job)} · {job.method} on {literal(job.dataset)} ({job.preset})"
    if job.status == "QUEUED":
        return (
            head + ": waiting for the worker" + (f" (retry of job #{job.retry_of})" if job.retry_of else "")
        )
    detail = [job.phase or "starting"]
    if job.epoch is not None:
        detail.append(f"epoch {job.epoch}/{job.epochs}")
    if job.loss is not None and not fits_without_loss(job.method):
        detail.append(f"loss {job.loss:.4g}")
    eta = job.eta_seconds if eta is None else eta
    if eta is not None:
        detail.append(f"ETA {duration(eta)}")
    if job.cancel_requested:
        detail.append("cancelling after this epoch")
    return f"{head}: {', '.join(detail)}"


def run_aurocs(views: list[JobView], store: Store) -> dict[int, tuple[float | None, float | None]]:
    """(image AUROC, pixel AUROC) of the runs behind finished jobs, by run id."""
    out = {}
    for v in views:
        if v.status == "DONE" and v.run_id is not None and (run := db_runs.get_run(store, v.run_id)):
            out[v.run_id] = (run.image_auroc, run.pixel_auroc)
    return out


def _auroc(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def finished_table(
    views: list[JobView], aurocs: dict[int, tuple[float | None, float | None]]
) -> pd.DataFrame:
    """One row per finished, failed or cancelled job, with its run's AUROCs when it has a run."""
    columns = ["job", "method", "dataset", "preset", "status", "run", "image AUROC", "pixel AUROC", "took"]
    rows = [
        {
            "job": v.id,
            "method": v.method,
            "dataset": v.dataset,
            "preset": v.preset,
            "status": v.status,
            "run": v.run_id,
            "image AUROC": _auroc(aurocs.get(v.run_id, (None, None))[0]),
            "pixel AUROC": _auroc(aurocs.get(v.run_id, (None, None))[1]),
            "took": duration((v.ended_at - v.started_at).total_seconds())
            if v.ended_at and v.started_at
            else "-",
            "ended (UTC)": v.ended_at.strftime("%Y-%m-%d %H:%M:%S") if v.ended_at else "",
            "error": headline(v.error) if v.error else "",
        }
        for v in views
    ]
    return pd.DataFrame(rows, columns=[*columns, "ended (UTC)", "error"])


def headline(error: str) -> str:
    """The sentence a page shows of a job's error: its first paragraph, without server paths. (Jobs that
    failed before the worker kept tracebacks to its log stored them after a blank line: never shown.)"""
    first = " ".join(error.strip().split("\n\n", 1)[0].split())
    return for_people(first or "unknown error", path_word="a server file")


def retry(job: JobView, store: Store, executor: Executor) -> None:
    """Button callback: queue the job's configuration again, once (a second click, or a stale button, queues
    nothing and says why), and say so above the queue."""
    try:
        new_id = jobs.retry(job.id, store=store)
    except ValueError as exc:
        st.session_state["train_retry"] = (
            "error",
            f"Retry of job #{job.id}: {literal(for_people(str(exc)))}",
        )
        return
    executor.ensure_running()
    st.session_state["train_retry"] = ("success", f"Job #{job.id} queued again as job #{new_id}.")


def add_to_compare(dataset: str, run_ids: list[int]) -> None:
    """Add runs to the Compare selection of `dataset` (kept in session and URL by dashboard.state)."""
    saved: dict[str, list[int]] = st.session_state.setdefault("selected_runs", {})
    picker = f"runs_picker_{dataset}"
    before = st.session_state.get(picker, saved.get(dataset, []))
    chosen = list(dict.fromkeys([*before, *run_ids]))
    saved[dataset] = chosen
    st.session_state[picker] = chosen
    st.session_state["dataset"] = dataset


def _failures(views: list[JobView], store: Store, executor: Executor) -> None:
    """The latest failed and cancelled jobs not retried yet, each with its error (one sentence; details are in
    the worker's log) and a Retry button; a retried one's banner goes (its retry shows in the queue)."""
    retried = {v.retry_of for v in views if v.retry_of is not None}
    for v in [v for v in views if v.status in RETRIABLE and v.id not in retried][:SHOWN_FAILURES]:
        left, right = st.columns([6, 1])
        name = job_name(v)
        what = f"{name[0].upper()}{name[1:]} ({v.method} on {literal(v.dataset)})"
        if v.status == "FAILED":
            left.error(f"{what} failed: {literal(headline(v.error or ''))}", icon=":material/error:")
        else:
            left.info(f"{what} was cancelled.", icon=":material/cancel:")
        right.button(
            "Retry",
            key=f"retry-{v.id}",
            on_click=auth.guarded("train", retry),
            args=(v, store, executor),
            disabled=v.config is None,
            help="Queue the same configuration again",
            icon=":material/replay:",
        )


def _shown_etas(active: list[JobView], now: float) -> dict[int, float | None]:
    """Smoothed ETAs of the running jobs; the previous ones are kept in the session between refreshes."""
    kept: dict[int, ShownEta] = st.session_state.get("train_eta", {})
    shown = {v.id: smoothed_eta(kept.get(v.id), v.eta_seconds, now) for v in active}
    st.session_state["train_eta"] = {i: e for i, e in shown.items() if e is not None}
    return {i: None if e is None else e.seconds for i, e in shown.items()}


def queue_panel(executor: Executor, store: Store, dataset: str | None, now: float) -> None:
    """Active jobs with progress and a cancel button, failures with Retry, then finished jobs with AUROC."""
    views = jobs.list_jobs(limit=60, store=store)
    active = [v for v in views if v.status in ("QUEUED", "RUNNING")]
    if any(v.status == "QUEUED" for v in active):
        executor.ensure_running()  # a worker that exited just before a job was queued
    worker = (
        "a worker is running"
        if executor.is_running()
        else "no worker running (one starts when a job is queued)"
    )
    st.caption(f"Queue: {len(active)} active job(s); {worker}. Refreshes every 2 s.")
    if message := st.session_state.pop("train_retry", None):
        (st.success if message[0] == "success" else st.error)(message[1])
    etas = _shown_etas(active, now)
    for v in reversed(active):
        left, right = st.columns([6, 1])
        left.progress(min(max(v.progress, 0.0), 1.0), text=progress_text(v, etas.get(v.id)))
        right.button(
            "Cancel",
            key=f"cancel-{v.id}",
            on_click=auth.guarded("train", jobs.cancel),
            args=(v.id, store),
            disabled=v.cancel_requested,
            icon=":material/cancel:",
        )
    _failures(views, store, executor)
    done = [v for v in views if v.status not in ("QUEUED", "RUNNING")]
    if not done:
        return
    st.dataframe(finished_table(done, run_aurocs(done, store)), hide_index=True, width="stretch")
    runs = [v.run_id for v in done if v.status == "DONE" and v.run_id is not None and v.dataset == dataset]
    if runs and st.button(
        f"Compare these runs ({len(runs)} finished on {literal(dataset)})",
        key="compare_finished",
        on_click=add_to_compare,
        args=(dataset, runs),
        icon=":material/leaderboard:",
    ):
        st.switch_page(COMPARE_PAGE)
