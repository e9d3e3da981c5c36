"""Caches of the results pages (compare, embeddings, inspect, review): run lists, score tables, artifacts.

Public helpers fill in the results store (cache keys hash it by its URL) and the MLflow URI, so tests with fresh stores never
see another store's runs. Per-run data never changes after a run finished, so it has no ttl."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import streamlit as st

from dashboard.cache import app_store
from db import locations
from db import runs as db_runs
from db.store import Store

MAX_TRAIN_POINTS = 200  # normal training embeddings mapped with the test points
log = logging.getLogger(__name__)


@contextmanager
def _reading_results(run_id: int) -> Iterator[None]:
    """Any failure to fetch or read a run's results file becomes a ResultsFileError (a page shows one sentence
    for that run); the details go to the server log. Not cached, so a restored file is read on the next run."""
    from dashboard.results_file import ResultsFileError

    try:
        yield
    except ResultsFileError:
        raise
    except Exception as exc:  # missing, truncated, a zip or zlib error, the artifact store refusing...
        log.exception("results file of run %s could not be read", run_id)
        raise ResultsFileError(run_id) from exc


def _locations() -> tuple[Store, str]:
    return app_store(), locations.mlflow_uri()


def finished_runs(dataset: str) -> list:
    """`RunInfo`s of the finished runs on `dataset`, newest first (refreshed every few seconds)."""
    return _finished_runs(dataset, _locations()[0])


@st.cache_data(ttl=5, max_entries=16, show_spinner=False)
def _finished_runs(dataset: str, store: Store) -> list:
    from dashboard.run_info import run_info

    return [run_info(r) for r in db_runs.list_runs(store, dataset_name=dataset, status="FINISHED")]


def run_datasets() -> list[str]:
    """Names of the datasets that have finished runs (refreshed every few seconds)."""
    return _run_datasets(_locations()[0])


@st.cache_data(ttl=5, max_entries=4, show_spinner=False)
def _run_datasets(store: Store) -> list[str]:
    return sorted({r.dataset_name for r in db_runs.list_runs(store, status="FINISHED")})


def score_table(run_id: int):
    """The `ScoreTable` (names, labels, defect types, raw and normalised scores) of a finished run."""
    return _score_table(run_id, _locations()[0])


@st.cache_data(max_entries=64, show_spinner=False)
def _score_table(run_id: int, store: Store):
    from dashboard.score_table import score_table as table

    return table(db_runs.get_predictions(store, run_id))


def lead_table(runs: list):
    """`significance.lead_table` of `runs` on their stored scores: each run's AUROC interval and its paired
    difference to the best run (cached: resampling a few thousand images takes about a second a run)."""
    return _lead_table(tuple(runs), _locations()[0])


@st.cache_data(max_entries=16, show_spinner="Resampling the test set…")
def _lead_table(runs: tuple, store: Store):
    from dashboard.significance import lead_table as build

    return build(runs, {run.id: _score_table(run.id, store) for run in runs})  # the cached score tables


@st.cache_data(max_entries=64, show_spinner=False)
def _artifact_path(run_id: int, store: Store, mlflow_uri: str) -> str:
    from engine.artifacts import predictions_path

    run = db_runs.get_run(store, run_id)
    if run is None:
        raise KeyError(f"no run with id {run_id}")
    with _reading_results(run_id):
        return str(predictions_path(run, mlflow_uri))


@st.cache_resource(max_entries=48, show_spinner=False)
def _artifact_array(run_id: int, key: str, store: Store, mlflow_uri: str):
    """One array of a run's predictions artifact (None when the run has none); reconstructions as uint8.
    Read-only and shared, not copied: maps are tens of MB per run and Inspect slices one image at a time.
    Raises ResultsFileError when the file cannot be read (also from the helpers below that use it)."""
    from pathlib import Path

    import numpy as np

    from engine.artifacts import Predictions

    with _reading_results(run_id):
        value = Predictions(Path(_artifact_path(run_id, store, mlflow_uri))).get(key)
    if value is None:
        return None
    if key == "reconstructions":
        value = np.round(value * 255).astype(np.uint8)  # (N, C, H, W), a quarter of the float size
    value.setflags(write=False)
    return value


def image_views(run_id: int, image_name: str):
    """`ImageViews` (anomaly map, reconstruction, attention, mask) of one test image; None if absent."""
    return _image_views(run_id, image_name, *_locations())


@st.cache_data(max_entries=512, show_spinner=False)
def _image_views(run_id: int, image_name: str, store: Store, mlflow_uri: str):
    from dashboard.pictures import to_uint8
    from dashboard.results_file import ImageViews

    names = _artifact_array(run_id, "names", store, mlflow_uri)
    hits = [i for i, n in enumerate(names) if n == image_name]
    if not hits:
        return None
    i = hits[0]

    def item(key: str):
        array = _artifact_array(run_id, key, store, mlflow_uri)
        return None if array is None else array[i]

    reconstruction = item("reconstructions")
    return ImageViews(
        anomaly_map=item("anomaly_maps").astype("float32"),
        reconstruction=None if reconstruction is None else to_uint8(reconstruction),
        attention=None if (a := item("attentions")) is None else a.astype("float32"),
        mask=item("masks"),
    )


def map_range(run_id: int, key: str = "anomaly_maps") -> tuple[float, float]:
    """(low, high) of a run's maps over all test images (0.5th and 99.5th percentiles), so one colour scale
    serves every image of the run and a normal image's map does not look as hot as a defect's."""
    return _map_range(run_id, key, *_locations())


@st.cache_data(max_entries=128, show_spinner=False)
def _map_range(run_id: int, key: str, store: Store, mlflow_uri: str) -> tuple[float, float]:
    import numpy as np

    maps = _artifact_array(run_id, key, store, mlflow_uri)
    if maps is None or maps.size == 0:
        return 0.0, 1.0
    values = np.asarray(maps, dtype=np.float32).ravel()[:: max(1, maps.size // 2_000_000)]
    values = values[np.isfinite(values)]
    if not values.size:
        return 0.0, 1.0
    lo, hi = np.percentile(values, [0.5, 99.5])
    return float(lo), float(max(hi, lo + 1e-12))


def mask_counts(runs: list) -> dict[int, int | None]:
    """Per run id, how many test images had a drawn defect mask (what its pixel AUROC and PRO rest on);
    None for a run whose results file cannot be read or holds no masks."""
    from dashboard.results_file import ResultsFileError

    counts: dict[int, int | None] = {}
    for run in runs:
        try:
            counts[run.id] = _mask_count(run.id, *_locations())
        except ResultsFileError:
            counts[run.id] = None
    return counts


@st.cache_data(max_entries=256, show_spinner=False)
def _mask_count(run_id: int, store: Store, mlflow_uri: str) -> int | None:
    import numpy as np

    masks = _artifact_array(run_id, "masks", store, mlflow_uri)
    if masks is None:
        return None
    return int(sum(bool(np.nanmax(np.asarray(m, dtype=np.float32), initial=0) > 0) for m in masks))


def embedding_map(run_id: int):
    """The 2-D t-SNE map of a run's test embeddings with its training sample and centroid (computed once)."""
    return _embedding_map(run_id, *_locations())


_MAPPED: set[tuple[int, Store, str]] = set()  # the t-SNE maps this process has computed (on Embeddings)


def computed_embedding_map(run_id: int):
    """The run's t-SNE map when this process has computed it already, else None (the report shows the maps
    people opened rather than spend seconds per run on the others)."""
    key = (run_id, *_locations())
    return _embedding_map(*key) if key in _MAPPED else None


@st.cache_data(max_entries=64, show_spinner=False)
def _embedding_map(run_id: int, store: Store, mlflow_uri: str):
    from pathlib import Path

    import numpy as np

    from dashboard.projection import embedding_map as project
    from engine.artifacts import Predictions

    with _reading_results(run_id):
        preds = Predictions(Path(_artifact_path(run_id, store, mlflow_uri)))
        embeddings, train, centroid = (preds.get(k) for k in ("embeddings", "train_embeddings", "centroid"))
        names, labels, defect_types = (preds.get(k) for k in ("names", "labels", "defect_types"))
    if train is not None and len(train) > MAX_TRAIN_POINTS:
        train = train[np.sort(np.random.default_rng(0).choice(len(train), MAX_TRAIN_POINTS, replace=False))]
    table = _score_table(run_id, store)  # the normalised scores Compare and Inspect show, for the hover
    normalised = {name: table.scores_normalized[i] for i, name in enumerate(table.names)}
    emap = project(
        embeddings,
        train,
        centroid,
        names=tuple(str(n) for n in names),
        labels=labels.astype(int),
        defect_types=tuple(str(d) for d in defect_types),
        scores=np.array([normalised.get(str(n), np.nan) for n in names], dtype=np.float64),
    )
    _MAPPED.add((run_id, store, mlflow_uri))
    return emap


@st.cache_resource(ttl=600, max_entries=3, show_spinner="Loading the dataset's images...")
def _loaded_dataset(name: str, image_size: int, store: Store):
    from engine.data import load_dataset
    from engine.data.types import DatasetError

    try:
        return load_dataset(name, image_size=image_size, store=store)
    except (DatasetError, OSError):
        return None


def input_image(dataset: str, image_size: int, image_name: str):
    """A test image of `dataset` at `image_size` as (H, W[, 3]) uint8, or None when it cannot be found."""
    return _input_image(dataset, image_size, image_name, _locations()[0])


@st.cache_data(max_entries=2048, show_spinner=False)
def _input_image(dataset: str, image_size: int, image_name: str, store: Store):
    from dashboard.pictures import to_uint8

    data = _loaded_dataset(dataset, image_size, store)
    if data is None or image_name not in data.test.names:
        return None
    return to_uint8(data.test.images[data.test.names.index(image_name)].numpy())


def clear_results_caches() -> None:
    """Forget cached run lists (per-run data stays: a finished run does not change)."""
    _finished_runs.clear()
    _run_datasets.clear()


def current_label_set(dataset: str) -> str | None:
    """Fingerprint of the labels a new run on `dataset` would be scored on now; None for a built-in set."""
    return _current_label_set(dataset, _locations()[0])


@st.cache_data(ttl=5, max_entries=16, show_spinner=False)
def _current_label_set(dataset: str, store: Store) -> str | None:
    from engine.rescore import current_label_set as fingerprint

    found = fingerprint(dataset, store)
    return None if found is None else found["label_set"]
