"""Widgets shared by the results pages: the dataset in view, the run picker and per-run thresholds.

Choices are kept in plain session-state dicts as well as in the widgets, so they survive page switches
(Streamlit forgets the state of widgets that a page run did not draw)."""

from __future__ import annotations

import streamlit as st

from dashboard import results_cache
from dashboard.run_info import RunInfo, latest_per_method
from dashboard.safe_text import literal
from dashboard.thresholds import THRESHOLD_DIGITS, default_threshold, snap_threshold


def dataset_in_view() -> str | None:
    """The sidebar's dataset, or None (with a hint) when there is none."""
    dataset = st.session_state.get("dataset")
    if not dataset:
        st.info("Import a dataset on the Datasets page, then pick it in the sidebar.")
    return dataset


def _variants(dataset: str) -> list[str]:
    """`dataset` and the names its runs were recorded under with a normal digit, e.g. 'mnist:3'."""
    names = [n for n in results_cache.run_datasets() if n == dataset or n.startswith(f"{dataset}:")]
    return sorted(set(names) | {dataset})


def pick_runs(dataset: str, key: str = "runs") -> list[RunInfo]:
    """A multiselect of the finished runs on `dataset` (default: the latest of each method)."""
    variants = _variants(dataset)
    if len(variants) > 1:
        chosen_variant = st.selectbox("Dataset variant", variants, key=f"{key}_variant_{dataset}")
        st.session_state.setdefault("run_variants", {})[dataset] = dataset = chosen_variant
    runs = results_cache.finished_runs(dataset)
    if not runs:
        st.info(f"No finished runs on {literal(repr(dataset))} yet: enqueue some on the Train page.")
        return []
    by_id = {run.id: run for run in runs}
    saved: dict[str, list[int]] = st.session_state.setdefault("selected_runs", {})
    widget = f"{key}_picker_{dataset}"
    chosen = [i for i in st.session_state.get(widget, saved.get(dataset, [])) if i in by_id]
    if not chosen and widget not in st.session_state:
        chosen = [run.id for run in latest_per_method(runs)]
    st.session_state[widget] = chosen
    picked = st.multiselect(
        "Runs",
        list(by_id),
        format_func=lambda i: by_id[i].description,
        key=widget,
        help="Default: the latest finished run of each method",
        placeholder="Choose runs to compare",
    )
    saved[dataset] = list(picked)
    return [by_id[i] for i in picked]


def picked_runs(dataset: str) -> list[RunInfo]:
    """The runs last picked with `pick_runs` on `dataset` (default: the latest of each method), without
    drawing the picker (the Review page's presentation shows no picker)."""
    variant = st.session_state.get("run_variants", {}).get(dataset, dataset)
    runs = results_cache.finished_runs(variant)
    by_id = {run.id: run for run in runs}
    saved = st.session_state.get("selected_runs", {}).get(variant)
    if saved is None:
        return latest_per_method(runs)
    return [by_id[i] for i in saved if i in by_id]


def threshold(run: RunInfo) -> float:
    """The threshold chosen for `run` on the Compare page (default: its best-F1 threshold), on the 0.001
    grid every page counts with (`thresholds.confusion_at`)."""
    return snap_threshold(st.session_state.setdefault("thresholds", {}).get(run.id, default_threshold(run)))


def threshold_input(run: RunInfo) -> float:
    """A 0-1 number input on normalised scores in steps of 0.001 for one run (typed, or stepped with the
    arrows); the value is shared with the Inspect and Review pages."""
    saved: dict[int, float] = st.session_state.setdefault("thresholds", {})
    widget = f"threshold_{run.id}"
    if widget not in st.session_state:
        st.session_state[widget] = threshold(run)
    value = st.number_input(
        f"Threshold for {run.label}",
        0.0,
        1.0,
        step=10**-THRESHOLD_DIGITS,
        format=f"%.{THRESHOLD_DIGITS}f",
        key=widget,
        help="On normalised scores: 0.5 is the highest score of a normal training image; an image is called "
        "anomalous when its score reaches the threshold",
    )
    saved[run.id] = snap_threshold(value)
    return saved[run.id]
