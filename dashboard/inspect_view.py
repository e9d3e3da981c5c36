"""Part of the Inspect page: one row of pictures and facts per run (the gallery is in gallery_view.py). Pictures
are sent at the image file's own resolution (at least PICTURE_PX), shown at the column's width, and open full
size from their fullscreen button; every map carries its colour scale."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import streamlit as st

from dashboard import pictures, results, results_cache
from dashboard.results import ResultsFileError, RunInfo, ScoreTable
from dashboard.safe_text import literal
from dashboard.thumbs import read_rgb, resized
from db import store
from engine.config import db_url
from engine.data import DatasetError
from engine.data.masks import inside

PICTURE_PX = 384  # the longer side pictures are sent at, at least: sharp at any column width of a wide page
FULL_PX = 1024  # ...and at most (an image file's own size in between)
log = logging.getLogger(__name__)


def _verdict(called: bool, label: int) -> str:
    if called:
        return "anomalous ✓" if label == 1 else "anomalous ✗ (false positive)"
    return "normal ✓" if label == 0 else "normal ✗ (false negative)"


def original_picture(dataset: str, name: str) -> np.ndarray | None:
    """Image `name` of an imported dataset at its file's own resolution (H, W, 3) uint8; None for a built-in
    set, a variant or a file that is gone."""
    return _original_picture(dataset, name, db_url())


@st.cache_data(max_entries=64, show_spinner=False)
def _original_picture(dataset: str, name: str, url: str) -> np.ndarray | None:
    record = store.get_dataset(dataset, url=url)
    if record is None:
        return None
    try:
        return read_rgb(inside(Path(record.root), name))
    except (OSError, ValueError, DatasetError):
        log.info("image %s of dataset %s could not be read for Inspect", name, dataset, exc_info=True)
        return None


def shown_size(picture: np.ndarray | None) -> int:
    """The longer side pictures of an image are sent at: its file's, within PICTURE_PX..FULL_PX."""
    return PICTURE_PX if picture is None else int(np.clip(max(picture.shape[:2]), PICTURE_PX, FULL_PX))


def has_mask(mask: np.ndarray | None) -> bool:
    """Whether a run's mask of an image outlines a defect (normal images have an all-zero mask)."""
    return mask is not None and bool(np.nan_to_num(np.asarray(mask, dtype=np.float32)).max() > 0.5)


def input_picture(
    run: RunInfo, name: str, mask: np.ndarray | None, size: int
) -> tuple[np.ndarray, str] | None:
    """The input image (its file where there is one, else as the run saw it), the defect outlined where the
    image has a mask; with its caption. None when neither is available."""
    picture = original_picture(run.dataset, name)
    if picture is None:
        picture = results_cache.input_image(run.dataset, run.image_size, name)
    if picture is None:
        return None
    picture = pictures.resized(picture, size)
    if not has_mask(mask):
        return picture, "input"
    height, width = picture.shape[:2]
    drawn = np.asarray(resized(np.where(np.asarray(mask) > 0.5, 255, 0).astype(np.uint8), width, height))
    return pictures.outline(picture, drawn > 127), "input (defect outlined)"


def map_picture(
    values: np.ndarray, lo: float, hi: float, size: int, base: np.ndarray | None = None
) -> np.ndarray:
    """A map's heat picture at `size` (blended over `base` when given) with its colour scale from lo to hi."""
    heat = pictures.heat(values, lo, hi) if base is None else pictures.overlay(base, values, 0.6, lo, hi)
    return pictures.with_colour_bar(pictures.resized(heat, size), lo, hi)


def run_row(run: RunInfo, name: str, threshold: float) -> None:
    """Score, rank and the call at `threshold`, then the input (defect outlined where it has a mask), the
    reconstruction and attention where the method has them, and the error map (one colour scale per run)."""
    st.markdown(f"##### {run.label} · {run.preset}")
    table = results_cache.score_table(run.id)
    i = table.index(name)
    try:
        views = results_cache.image_views(run.id, name)
        lo, hi = results_cache.map_range(run.id)
    except ResultsFileError:
        st.warning(results.unreadable(run), icon=":material/broken_image:")
        if i is not None:
            st.markdown(_facts(table, i, threshold))
        return
    if i is None or views is None:
        st.caption(
            f"{literal(name)} is not among the test images of {run.label} (left out of its evaluation)."
        )
        return
    st.markdown(_facts(table, i, threshold))
    size = shown_size(original_picture(run.dataset, name))
    shown: list[tuple[np.ndarray, str]] = []
    if (given := input_picture(run, name, views.mask, size)) is not None:
        shown.append(given)
    if views.reconstruction is not None:
        shown.append((pictures.resized(views.reconstruction, size), "reconstruction"))
    shown.append((map_picture(views.anomaly_map, lo, hi, size), "error map (scale shared by the run)"))
    if views.attention is not None:
        attention = np.nan_to_num(np.asarray(views.attention, dtype=np.float64))
        base = results_cache.input_image(run.dataset, run.image_size, name)
        shown.append(
            (map_picture(attention, float(attention.min()), float(attention.max()), size, base), "attention")
        )
    for column, (picture, caption) in zip(st.columns(len(shown)), shown, strict=True):
        column.image(pictures.png_bytes(picture), caption=caption, width="stretch")
    missing = [
        what
        for what, v in (("reconstruction", views.reconstruction), ("attention map", views.attention))
        if v is None
    ]
    st.caption(
        (f"No {' or '.join(missing)}: the method has none. " if missing else "")
        + "Hover a picture for its full-size button."
    )


def _facts(table: ScoreTable, i: int, threshold: float) -> str:
    """Score, normalised score, rank and the call at `threshold` of image `i`, as one line of markdown."""
    rank = int(results.ranks(table.scores)[i])
    called = bool(table.scores_normalized[i] >= threshold)
    return (
        f"score **{table.scores[i]:.4g}** · normalised **{table.scores_normalized[i]:.2f}**"
        f" · rank **{rank}** of {len(table.names)} · at {threshold:.2f}: {_verdict(called, int(table.labels[i]))}"
    )
