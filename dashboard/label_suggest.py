""" "Suggest next" on the Label page: which runs the scores come from, why an image is suggested, and scores of
images added after the latest runs, predicted by those runs rebuilt from their saved models (seconds; nothing
is retrained). Predicted scores are kept by the app process (dashboard.model_cache) and join the runs' own
scores in `with_predicted`, so the disagreement ordering covers the new images too."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

import streamlit as st

from dashboard import labeling, model_cache, score_view
from dashboard.cache import app_store
from dashboard.messages import for_people
from dashboard.safe_text import literal
from db import datasets as db_datasets
from db import runs as db_runs
from db.labels import LabelState, Suggestion, latest_method_scores
from db.store import Store
from engine.batch_images import Source, read_sources
from engine.methods.catalog import ENSEMBLE
from engine.saved_model import ModelUnavailable

MAX_PREDICTED = 1000  # images one click scores per run (the rest on the next click)
CHUNK = 64  # images read and scored at a time, so memory holds one chunk of pictures and maps
log = logging.getLogger(__name__)


def latest_run_ids(dataset: str, dataset_id: int, store: Store) -> dict[str, int]:
    """{method: id} of the latest finished run of each method on this dataset (the scores "suggest next" uses)."""
    latest: dict[str, int] = {}
    for run in db_runs.list_runs(store, dataset_name=dataset, status="FINISHED"):  # newest first
        if (
            run.dataset_id == dataset_id and run.method != ENSEMBLE
        ):  # an ensemble has no model to predict with
            latest.setdefault(run.method, run.id)
    return latest


def with_predicted(
    dataset: str, scores: Mapping[str, Mapping[str, float]], store: Store
) -> dict[str, dict[str, float]]:
    """`scores` ({method: {image: normalised score}} of each method's latest run) plus what those runs
    predicted in this app process for images they never scored (their own scores win)."""
    merged = {method: dict(per) for method, per in scores.items()}
    record = db_datasets.get_dataset(store, dataset)
    if record is None:
        return merged
    for method, run_id in latest_run_ids(dataset, record.id, store).items():
        extra = {name: value for name, value in model_cache.predicted(run_id).items() if value is not None}
        if extra:
            merged[method] = {**extra, **merged.get(method, {})}
    return merged


@st.cache_data(ttl=30, max_entries=8, show_spinner=False)
def method_scores(dataset: str, store: Store) -> dict[str, dict[str, float]]:
    """Normalised scores of the latest finished run of each method on a dataset (for "suggest next"), with
    those runs' predicted scores of images added since (`with_predicted`)."""
    return with_predicted(dataset, latest_method_scores(store, dataset), store)


def missing(
    queue: list[LabelState], scores: Mapping[str, Mapping[str, float]], run_ids: Mapping[str, int]
) -> dict[str, list[str]]:
    """{method: images of the queue that its latest run has not scored, predicted, or found unreadable},
    leaving out runs found not to rebuild a short while ago."""
    out = {}
    for method, run_id in sorted(run_ids.items()):
        if model_cache.unavailable(run_id) is not None:
            continue
        known = {**model_cache.predicted(run_id), **scores.get(method, {})}
        names = [s.relpath for s in queue if s.relpath not in known]
        if names:
            out[method] = names
    return out


def _predict(run_id: int, root: Path, names: list[str]) -> int:
    """Score `names` (files under `root`) with run `run_id`'s saved model; keeps and counts the scored ones."""
    loaded = model_cache.model(run_id)
    n = 0
    for start in range(0, len(names), CHUNK):
        chunk = names[start : start + CHUNK]
        scored = score_view.score_items(loaded, read_sources(Source(name, root / name) for name in chunk))
        got = {s.name: s.score_normalized for s in scored}
        model_cache.remember(run_id, {name: got.get(name) for name in chunk})  # None: unreadable
        n += len(got)
    return n


def predict_new_images(
    todo: dict[str, list[str]], run_ids: dict[str, int], dataset: str, store: Store
) -> None:
    """Button callback: score the images each method's latest run has not scored, with that run's saved model;
    a run that cannot be rebuilt (recorded before runs saved their models, an ensemble...) is skipped."""
    record = db_datasets.get_dataset(store, dataset)
    if record is None:
        return
    done, skipped, left = [], [], 0
    for method, names in sorted(todo.items()):
        run_id = run_ids[method]
        try:
            n = _predict(run_id, Path(record.root), names[:MAX_PREDICTED])
        except ModelUnavailable as exc:
            model_cache.mark_unavailable(run_id, str(exc))
            skipped.append(f"{literal(for_people(str(exc)))} (skipped)")
            continue
        except Exception:  # a method failing on these images: one sentence here, the details in the log
            log.exception("run %s could not score new images of %s", run_id, dataset)
            skipped.append(f"run #{run_id} ({method}) could not score them (the server log has the details)")
            continue
        done.append(f"run #{run_id} ({method}) scored {n}")
        left = max(left, len(names) - MAX_PREDICTED)
    method_scores.clear()
    text = "; ".join(
        [f"Predicted with the saved runs: {', '.join(done)}" if done else "No run could score the new images"]
        + skipped
    )
    more = f" {left} more wait for the next click." if left > 0 else ""
    st.session_state["label_message"] = ("info" if skipped else "success", f"{text}.{more}")


def unscored_panel(
    queue: list[LabelState],
    suggestions: dict[str, Suggestion],
    dataset: str,
    run_ids: dict[str, int],
    store: Store,
) -> None:
    """How many images of the queue a latest run has not scored, and a button that has them predicted; the
    runs that cannot be rebuilt, with why."""
    for method, run_id in sorted(run_ids.items()):
        if (why := model_cache.unavailable(run_id)) is not None:
            st.caption(f"{method} leaves out the new images: {literal(for_people(why))}.")
    todo = missing(queue, method_scores(dataset, store), run_ids)
    if not todo:
        return
    n = len({name for names in todo.values() for name in names})
    runs = ", ".join(f"#{run_ids[m]} ({m})" for m in todo)
    left, right = st.columns([3, 1])
    left.info(
        f"{n} image(s) here were added after the latest runs, so not every method has scored them "
        f"(no score from {runs}); images no method scored come last.",
        icon=":material/new_releases:",
    )
    right.button(
        "Score new images",
        key="score_new_images",
        on_click=predict_new_images,
        args=(todo, run_ids, dataset, store),
        help="Scores them with each method's latest run, rebuilt from its saved model: seconds, nothing is "
        "retrained",
        icon=":material/bolt:",
    )


def reason(
    state: LabelState, suggestions: dict[str, Suggestion], scores, run_ids: dict[str, int], order: str
) -> None:
    """One line under the image: why it was suggested; and the score it was sent with from Score new images."""
    hint = suggestions.get(state.relpath) or Suggestion(state.relpath, None, None, 0, float("-inf"))
    st.markdown(f"**Why suggested:** {labeling.suggestion_reason(hint, scores, run_ids, order)}")
    dataset = st.session_state.get("dataset")
    if dataset:
        for note in score_view.score_notes(dataset, state.relpath, app_store()):
            st.caption(literal(note))
