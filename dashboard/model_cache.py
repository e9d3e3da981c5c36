"""Saved runs in the app process (Score new images, Suggest next): each run rebuilt as a model once, each
dataset's champion, and the scores saved runs predicted for images no training run scored. All are shared by
every session of the process and keyed by the store's location, so a test's fresh store never sees another's."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

import streamlit as st

from db.store import Store
from engine.saved_model import SavedModel

UNAVAILABLE_SECONDS = 600.0  # how long a run that could not be rebuilt is skipped before it is tried again
log = logging.getLogger(__name__)


def _locations() -> tuple[Store, str]:
    from dashboard.cache import app_store
    from db import locations

    return app_store(), locations.mlflow_uri()


@dataclass(frozen=True)
class LoadedModel:
    """A rebuilt run and the lock that lets one page run at a time score with it (methods keep per-call state)."""

    model: SavedModel
    lock: threading.Lock


@st.cache_resource(max_entries=4, show_spinner="Loading the run's model...")
def _model(run_id: int, store: Store, mlflow_uri: str) -> LoadedModel:
    from engine.saved_model import load_saved_model

    return LoadedModel(load_saved_model(run_id, store=store, mlflow_uri=mlflow_uri), threading.Lock())


def model(run_id: int) -> LoadedModel:
    """Run `run_id` rebuilt from its model file (loaded once per process); ModelUnavailable says why not."""
    return _model(run_id, *_locations())


@st.cache_data(ttl=30, max_entries=16, show_spinner=False)
def _champion(dataset: str, mlflow_uri: str) -> int | None:
    from engine.registry import champion

    try:
        return champion(dataset, mlflow_uri)
    except Exception:  # the tracking server not answering: the page falls back to the best run
        log.exception("the champion of %s could not be read from the model registry", dataset)
        return None


def champion(dataset: str) -> int | None:
    """The run behind `dataset`'s champion alias in MLflow's Model Registry; None when there is none."""
    return _champion(dataset, _locations()[1])


@dataclass
class _Predicted:
    """What saved runs predicted in this process: {run id: {image name: normalised score, None when the file
    could not be read}}, and the runs that could not be rebuilt: {run id: (sentence, when)}."""

    scores: dict[int, dict[str, float | None]]
    unavailable: dict[int, tuple[str, float]]
    lock: threading.Lock


@st.cache_resource(show_spinner=False)
def _predicted(store: Store) -> _Predicted:
    return _Predicted({}, {}, threading.Lock())


def remember(run_id: int, scores: dict[str, float | None]) -> None:
    """Keep run `run_id`'s normalised scores of images (None: the file could not be read)."""
    kept = _predicted(_locations()[0])
    with kept.lock:
        kept.scores.setdefault(run_id, {}).update(scores)


def predicted(run_id: int) -> dict[str, float | None]:
    """Run `run_id`'s scores predicted in this process (a copy)."""
    kept = _predicted(_locations()[0])
    with kept.lock:
        return dict(kept.scores.get(run_id, {}))


def mark_unavailable(run_id: int, sentence: str) -> None:
    """Remember for a while that run `run_id` cannot be rebuilt, and why."""
    kept = _predicted(_locations()[0])
    with kept.lock:
        kept.unavailable[run_id] = (sentence, time.monotonic())


def unavailable(run_id: int) -> str | None:
    """Why run `run_id` could not be rebuilt, when that was found in the last UNAVAILABLE_SECONDS."""
    kept = _predicted(_locations()[0])
    with kept.lock:
        found = kept.unavailable.get(run_id)
        if found is not None and time.monotonic() - found[1] > UNAVAILABLE_SECONDS:
            del kept.unavailable[run_id]
            found = None
    return None if found is None else found[0]
