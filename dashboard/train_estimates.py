"""Expected training time of a method on a dataset, from this store's finished runs of the same method and
preset (fit seconds per training image, scaled to the dataset's training size); no runs, no estimate."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

import streamlit as st

from dashboard.train_panels import duration
from db import datasets as db_datasets
from db import runs as db_runs
from db.store import Store
from engine.methods.catalog import describe

PAST_RUNS = 20  # the latest finished runs of a method looked at (older ones ran on older code)


@dataclass(frozen=True)
class PastFit:
    """One finished run's training time and the size of its training set (None when not known)."""

    fit_seconds: float
    n_train: int | None
    dataset: str


@dataclass(frozen=True)
class Estimate:
    seconds: float
    runs: int  # how many past runs it comes from


def expected_fit_seconds(past: Sequence[PastFit], n_train: int | None, dataset: str) -> Estimate | None:
    """The median seconds per training image of `past` times `n_train`; when the training size is not known,
    the median of past runs on the same dataset; None when there is nothing to go by."""
    if n_train:
        rates = [p.fit_seconds / p.n_train for p in past if p.n_train and p.fit_seconds >= 0]
        if rates:
            return Estimate(statistics.median(rates) * n_train, len(rates))
    same = [p.fit_seconds for p in past if p.dataset == dataset and p.fit_seconds >= 0]
    return Estimate(statistics.median(same), len(same)) if same else None


def estimate_text(estimate: Estimate | None, preset: str) -> str:
    """'about 1:20 (from 3 finished cpu runs)' or 'no estimate yet (no finished cpu run of it here)'."""
    if estimate is None:
        return f"no estimate yet (no finished {preset} run of it here)"
    return f"about {duration(estimate.seconds)} to train (from {estimate.runs} finished {preset} run(s))"


def _train_size(dataset_id: int | None, store: Store, sizes: dict[int, int | None]) -> int | None:
    if dataset_id is None:
        return None
    if dataset_id not in sizes:
        counts = db_datasets.image_counts(store, dataset_id)
        sizes[dataset_id] = sum(n for (split, _), n in counts.items() if split == "train") or None
    return sizes[dataset_id]


def past_fits(method: str, preset: str, store: Store, sizes: dict[int, int | None]) -> list[PastFit]:
    """The latest finished runs of `method` with `preset` in the store, with their training sizes."""
    runs = [
        r
        for r in db_runs.list_runs(store, method=method, status="FINISHED")
        if r.preset == preset and r.fit_seconds is not None
    ][:PAST_RUNS]
    return [PastFit(r.fit_seconds, _train_size(r.dataset_id, store, sizes), r.dataset_name) for r in runs]


def method_lines(
    methods: Sequence[str], preset: str, dataset: str, dataset_id: int | None, store: Store
) -> None:
    """One line per chosen method: what it does and how long it should take on this dataset."""
    sizes: dict[int, int | None] = {}
    n_train = _train_size(dataset_id, store, sizes)
    for method in methods:
        estimate = expected_fit_seconds(past_fits(method, preset, store, sizes), n_train, dataset)
        size = f" for {n_train} training images" if n_train and estimate else ""
        st.caption(f"**{method}**: {describe(method)}. Expected: {estimate_text(estimate, preset)}{size}.")
