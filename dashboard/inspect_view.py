"""Part of the Inspect page: one row of pictures and facts per run (the gallery is in gallery_view.py). Pictures
are sent at the image file's own resolution (at least PICTURE_PX) and aspect ratio, whatever size the run worked
at, and open full size from their fullscreen button; every map carries its colour scale, and the error map over
the image comes at the image's own resolution in a figure to zoom and pan."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import NamedTuple

import numpy as np
import streamlit as st

from dashboard import figures, pictures, results_cache, results_file, score_table
from dashboard.cache import app_store
from dashboard.results_file import ImageViews, ResultsFileError
from dashboard.run_info import RunInfo
from dashboard.safe_text import literal
from dashboard.score_table import ScoreTable
from dashboard.thumbs import read_rgb, resized
from db import datasets as db_datasets
from db.store import Store
from engine.data.masks import inside, load_mask
from engine.data.types import DatasetError

PICTURE_PX = 384  # the longer side pictures are sent at, at least: sharp at any column width of a wide page
FULL_PX = 1024  # ...and at most (an image file's own size in between)
ZOOM_PX = 2048  # the longer side of the zoomable map at most: a file's own resolution up to it (8192 px files exist)
MAP_ALPHA = 0.6  # of an error map over its image (as on Review and in the presentation)
ZOOM_CONFIG = {"scrollZoom": True, "displaylogo": False}
log = logging.getLogger(__name__)


def _verdict(called: bool, label: int) -> str:
    if called:
        return "anomalous ✓" if label == 1 else "anomalous ✗ (false positive)"
    return "normal ✓" if label == 0 else "normal ✗ (false negative)"


def original_picture(dataset: str, name: str) -> np.ndarray | None:
    """Image `name` of an imported dataset at its file's own resolution (H, W, 3) uint8; None for a built-in
    set, a variant or a file that is gone."""
    return _original_picture(dataset, name, app_store())


@st.cache_data(max_entries=64, show_spinner=False)
def _original_picture(dataset: str, name: str, store: Store) -> np.ndarray | None:
    record = db_datasets.get_dataset(store, dataset)
    if record is None:
        return None
    try:
        return read_rgb(inside(Path(record.root), name))
    except (OSError, ValueError, DatasetError):
        log.info("image %s of dataset %s could not be read for Inspect", name, dataset, exc_info=True)
        return None


def defect_mask(
    run: RunInfo, name: str, mask: np.ndarray | None, values: np.ndarray, height: int, width: int
) -> np.ndarray | None:
    """Where image `name` has a defect, (height, width) bool: its mask file, read at the image's own resolution
    (a small defect can vanish from a mask squashed to a run's size), else the run's mask (cropped like its map
    `values`) resized; None for an image without a defect."""
    drawn = _mask_file(run.dataset, name, height, width, app_store())
    if drawn is not None and drawn.any():
        return drawn
    return pictures.mask_at_size(mask, values, height, width) if has_mask(mask) else None


@st.cache_data(max_entries=64, ttl=60, show_spinner=False)
def _mask_file(dataset: str, name: str, height: int, width: int, store: Store) -> np.ndarray | None:
    record = db_datasets.get_dataset(store, dataset)
    relpath = None if record is None else _mask_paths(record.id, store).get(name)
    if relpath is None:
        return None
    try:
        return load_mask(Path(record.root), relpath, height, width)
    except (OSError, ValueError, DatasetError):
        log.info("mask of image %s of dataset %s could not be read for Inspect", name, dataset, exc_info=True)
        return None


@st.cache_data(max_entries=8, ttl=60, show_spinner=False)
def _mask_paths(dataset_id: int, store: Store) -> dict[str, str]:
    return {
        i.relpath: i.mask_relpath
        for i in db_datasets.list_images(store, dataset_id, "test")
        if i.mask_relpath
    }


def shown_size(picture: np.ndarray | None) -> int:
    """The longer side pictures of an image are sent at: its file's, within PICTURE_PX..FULL_PX."""
    return PICTURE_PX if picture is None else int(np.clip(max(picture.shape[:2]), PICTURE_PX, FULL_PX))


def has_mask(mask: np.ndarray | None) -> bool:
    """Whether a run's mask of an image outlines a defect (normal images have an all-zero mask)."""
    return mask is not None and bool(np.nan_to_num(np.asarray(mask, dtype=np.float32)).max() > 0.5)


def own_picture(run: RunInfo, name: str) -> np.ndarray | None:
    """The input as (H, W, 3) uint8 at its file's own resolution, else as the run saw it; None when neither is
    available."""
    picture = original_picture(run.dataset, name)
    if picture is None:
        picture = results_cache.input_image(run.dataset, run.image_size, name)
    return None if picture is None else pictures.to_rgb(picture)


def input_picture(
    run: RunInfo, name: str, mask: np.ndarray | None, size: int, values: np.ndarray | None = None
) -> tuple[np.ndarray, str] | None:
    """The input image (its file where there is one, else as the run saw it), the defect outlined where the
    image has a mask (cropped like the run's map `values` where given); with its caption. None when neither
    is available."""
    picture = own_picture(run, name)
    if picture is None:
        return None
    height, width = picture.shape[:2]
    defect = defect_mask(run, name, mask, mask if values is None else values, height, width)
    if defect is None:
        return pictures.resized(picture, size), "input"
    return pictures.resized(pictures.outline(picture, defect), size), "input (defect outlined)"


def map_picture(
    values: np.ndarray, lo: float, hi: float, size: int, base: np.ndarray | None = None
) -> np.ndarray:
    """A map's heat picture at `size` (blended over `base` when given) with its colour scale from lo to hi."""
    heat = pictures.heat(values, lo, hi) if base is None else pictures.overlay(base, values, 0.6, lo, hi)
    return pictures.with_colour_bar(pictures.resized(heat, size), lo, hi)


def cropped(views: ImageViews) -> ImageViews:
    """An image's maps and mask without the padding a run's artifact adds (a test split of several sizes)."""
    extent = pictures.own_extent(views.anomaly_map).shape
    if extent == np.shape(views.anomaly_map):
        return views

    def crop(values: np.ndarray | None) -> np.ndarray | None:
        return None if values is None else np.asarray(values)[: extent[0], : extent[1]]

    return ImageViews(
        anomaly_map=crop(views.anomaly_map),
        reconstruction=crop(views.reconstruction),  # (H, W) or (H, W, 3)
        attention=crop(views.attention),
        mask=crop(views.mask),
    )


def zoom_picture(
    picture: np.ndarray | None, views: ImageViews, lo: float, hi: float, defect: np.ndarray | None = None
) -> np.ndarray:
    """The error map over the input at the image's own resolution (longer side at most ZOOM_PX), the defect
    outlined (`defect`, at the picture's size); the map alone, at its own size, where no input is available."""
    if picture is None:
        return pictures.heat(pictures.own_extent(views.anomaly_map), lo, hi)
    base = pictures.resized(picture, min(max(picture.shape[:2]), ZOOM_PX))
    height, width = base.shape[:2]
    drawn = pictures.overlay(base, pictures.at_size(views.anomaly_map, height, width), MAP_ALPHA, lo, hi)
    if defect is not None:
        drawn = pictures.outline(drawn, pictures.mask_at_size(defect, defect, height, width))
    return drawn


class RowPictures(NamedTuple):
    """What a run's row shows of one image, encoded once: (PNG, caption) pictures side by side, what the method
    lacks, and the zoomable error map over the image (PNG, width, height, title)."""

    shown: list[tuple[bytes, str]]
    missing: list[str]
    zoom: tuple[bytes, int, int, str]


@st.cache_data(max_entries=64, ttl=60, show_spinner=False)  # ttl: as the mask files it outlines
def row_pictures(run: RunInfo, name: str) -> RowPictures:
    """The pictures of `run`'s row for image `name` (which its artifact holds), made and PNG-encoded once per run
    and image instead of on every page run: heat maps, overlays and encoding were most of a cached Inspect run."""
    views = cropped(results_cache.image_views(run.id, name))
    lo, hi = results_cache.map_range(run.id)
    picture = own_picture(run, name)
    size = shown_size(original_picture(run.dataset, name))
    height, width = (picture if picture is not None else pictures.own_extent(views.anomaly_map)).shape[:2]
    shown: list[tuple[np.ndarray, str]] = []
    if (given := input_picture(run, name, views.mask, size, views.anomaly_map)) is not None:
        shown.append(given)
    if views.reconstruction is not None:
        stretched = np.asarray(resized(pictures.to_uint8(views.reconstruction), width, height))
        shown.append((pictures.resized(stretched, size), "reconstruction"))
    error = pictures.at_size(views.anomaly_map, height, width)
    shown.append((map_picture(error, lo, hi, size), "error map (scale shared by the run)"))
    if views.attention is not None:
        attention = pictures.at_size(views.attention, height, width)
        scale = float(attention.min()), float(attention.max())
        shown.append((map_picture(attention, *scale, size, picture), "attention"))
    missing = [
        what
        for what, v in (("reconstruction", views.reconstruction), ("attention map", views.attention))
        if v is None
    ]
    defect = None if picture is None else defect_mask(run, name, views.mask, views.anomaly_map, height, width)
    zoom = zoom_picture(picture, views, lo, hi, defect)
    title = f"{run.label}: error map over the image, {width}x{height} px"
    return RowPictures(
        shown=[(pictures.png_bytes(drawn), caption) for drawn, caption in shown],
        missing=missing,
        zoom=(pictures.png_bytes(zoom), zoom.shape[1], zoom.shape[0], title),
    )


def run_row(run: RunInfo, name: str, threshold: float) -> None:
    """Score, rank and the call at `threshold`, then the input (defect outlined where it has a mask), the
    reconstruction and attention where the method has them, and the error map (one colour scale per run), all at
    the image's own aspect ratio; under them the error map over the image at its own resolution, to zoom in."""
    st.markdown(f"##### {run.label} · {run.preset}")
    table = results_cache.score_table(run.id)
    i = table.index(name)
    try:
        views = results_cache.image_views(run.id, name)
        lo, hi = results_cache.map_range(run.id)
    except ResultsFileError:
        st.warning(results_file.unreadable(run), icon=":material/broken_image:")
        if i is not None:
            st.markdown(_facts(table, i, threshold))
        return
    if i is None or views is None:
        st.caption(
            f"{literal(name)} is not among the test images of {run.label} (left out of its evaluation)."
        )
        return
    st.markdown(_facts(table, i, threshold))
    row = row_pictures(run, name)
    for column, (png, caption) in zip(st.columns(len(row.shown)), row.shown, strict=True):
        column.image(png, caption=caption, width="stretch")
    st.caption(
        (f"No {' or '.join(row.missing)}: the method has none. " if row.missing else "")
        + "Hover a picture for its full-size button."
    )
    png, width, height, title = row.zoom
    with st.expander(f"Zoom: {title}", expanded=True, icon=":material/zoom_in:"):
        fig = figures.zoom_figure(png, width, height, title, (lo, hi))
        st.plotly_chart(fig, key=f"inspect_zoom_{run.id}", config=ZOOM_CONFIG)
        st.caption("Drag a box or scroll to zoom, Shift + drag to pan, double-click to see it all.")


def _facts(table: ScoreTable, i: int, threshold: float) -> str:
    """Score, normalised score, rank and the call at `threshold` of image `i`, as one line of markdown."""
    rank = int(score_table.ranks(table.scores)[i])
    called = bool(table.scores_normalized[i] >= threshold)
    return (
        f"score **{table.scores[i]:.4g}** · normalised **{table.scores_normalized[i]:.2f}**"
        f" · rank **{rank}** of {len(table.names)} · at {threshold:.2f}: {_verdict(called, int(table.labels[i]))}"
    )
