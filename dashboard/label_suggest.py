""" "Suggest next" on the Label page: which runs the scores come from, why an image is suggested, and a new
run of each method for images added after the latest runs (no method has scored them)."""

from __future__ import annotations

import dataclasses

import streamlit as st

from dashboard import cache, labeling, sidebar
from dashboard.messages import for_people
from dashboard.safe_text import literal
from db import store
from db.labels import LabelState, Suggestion
from engine import jobs
from engine.methods.catalog import ENSEMBLE
from engine.run import RunConfig

JOBS_LOOKED_AT = 500  # recent jobs searched for the configuration that made a run


def latest_run_ids(dataset: str, dataset_id: int, url: str) -> dict[str, int]:
    """{method: id} of the latest finished run of each method on this dataset (the scores "suggest next" uses)."""
    latest: dict[str, int] = {}
    for run in store.list_runs(dataset_name=dataset, status="FINISHED", url=url):  # newest first
        if run.dataset_id == dataset_id and run.method != ENSEMBLE:  # an ensemble is not a method to re-run
            latest.setdefault(run.method, run.id)
    return latest


def _config_of(run_id: int, url: str) -> RunConfig:
    """The configuration of the job that made run `run_id`; the run's own fields when no job made it."""
    for view in jobs.list_jobs(limit=JOBS_LOOKED_AT, db_url=url):
        if view.run_id == run_id and view.config is not None:
            return view.config
    run = store.get_run(run_id, url=url)
    return RunConfig(run.dataset_name, run.method, run.preset, image_size=run.image_size, seed=run.seed)


def score_new_images(run_ids: dict[str, int], url: str) -> None:
    """Button callback: queue a new run of each method like its latest one; a run scores every test image."""
    if (author := sidebar.user()) is None:
        return  # a refused name: the sidebar says why
    queued, errors = [], []
    for method, run_id in sorted(run_ids.items()):
        config = dataclasses.replace(_config_of(run_id, url), user=author)
        try:
            queued.append(jobs.enqueue(config, db_url=url))
        except ValueError as exc:
            errors.append(f"{method}: {literal(for_people(str(exc)))}")
    if queued:
        cache.executor(url).ensure_running()
    text = f"Queued job(s) {', '.join(f'#{i}' for i in queued)}: when they finish (see Train), Suggest next ranks the new images too."
    st.session_state["label_message"] = ("error", "; ".join(errors)) if errors else ("success", text)


def unscored_panel(
    queue: list[LabelState],
    suggestions: dict[str, Suggestion],
    dataset: str,
    run_ids: dict[str, int],
    url: str,
) -> None:
    """How many images of the queue no method scored, and a button that has them scored."""
    unscored = [s.relpath for s in queue if not (hint := suggestions.get(s.relpath)) or not hint.methods]
    if not unscored or not run_ids:
        return
    active = [v.id for v in jobs.list_jobs(("QUEUED", "RUNNING"), db_url=url) if v.dataset == dataset]
    left, right = st.columns([3, 1])
    left.info(
        f"{len(unscored)} image(s) here were added after the latest runs, so no method has scored them; "
        "they come last."
        + (
            f" Job(s) {', '.join(f'#{i}' for i in active)} on this dataset are queued or running."
            if active
            else ""
        ),
        icon=":material/new_releases:",
    )
    right.button(
        "Score new images",
        key="score_new_images",
        on_click=score_new_images,
        args=(run_ids, url),
        disabled=bool(active),
        help="Queues a new run of each method like its latest one (see Train)",
        icon=":material/play_arrow:",
    )


def reason(
    state: LabelState, suggestions: dict[str, Suggestion], scores, run_ids: dict[str, int], order: str
) -> None:
    """One line under the image: why it was suggested."""
    hint = suggestions.get(state.relpath) or Suggestion(state.relpath, None, None, 0, float("-inf"))
    st.markdown(f"**Why suggested:** {labeling.suggestion_reason(hint, scores, run_ids, order)}")
