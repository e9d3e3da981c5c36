"""The Inspect gallery on the page: filters, one page of clickable thumbnails and the pager. The filter and
page outlive a page switch (session state) and a reload (URL query parameters, like dashboard/state.py)."""

from __future__ import annotations

import html
import zlib
from pathlib import Path

import numpy as np
import streamlit as st
from PIL import Image

from dashboard import gallery, pictures, results_cache, score_table
from dashboard.cache import app_store
from dashboard.gallery import PAGE_PARAM, PARAMS, GalleryFilter
from dashboard.gallery_figure import Tile, clicked_name, grid_figure
from dashboard.results_file import ResultsFileError
from dashboard.run_info import RunInfo
from dashboard.score_table import ScoreTable
from db import datasets as db_datasets
from db.store import Store
from engine.data.masks import inside
from engine.data.types import DatasetError

THUMB_PX = 96
SAVED = "gallery_saved"  # (GalleryFilter, page) of the last run of the Inspect page
RESTORED = "gallery_restored"
KEYS = {"label": "gallery_label", "defect_types": "gallery_types", "scores": "gallery_scores"}
FLAGGED_KEY = "gallery_flagged"


def grid_key(page: int, current: str | None) -> str:
    """The thumbnail grid's widget key: a new one whenever the page or the open image changes, so the chart
    starts without a selection and a click on any thumbnail (the one opened before included) is news."""
    return f"gallery_grid_{zlib.crc32(f'{page}|{current}'.encode()):08x}"


def _restore(types: list[str]) -> None:
    """Once per session the URL's filter and page; on every run the saved ones for widgets not drawn since
    (a page switch drops them)."""
    state = st.session_state
    if not state.get(RESTORED):
        state[RESTORED] = True
        params = [*PARAMS.values(), PAGE_PARAM]
        if any(p in st.query_params for p in params):
            state[SAVED] = gallery.from_query({p: st.query_params.get_all(p) for p in params})
    chosen = state.get(SAVED, (GalleryFilter(), 1))[0]
    state.setdefault(KEYS["label"], chosen.label)
    state.setdefault(KEYS["defect_types"], list(chosen.defect_types))
    state.setdefault(KEYS["scores"], tuple(chosen.scores))
    state.setdefault(FLAGGED_KEY, chosen.flagged)
    state[KEYS["defect_types"]] = [t for t in state[KEYS["defect_types"]] if t in types]


def _remember(chosen: GalleryFilter, page: int) -> None:
    st.session_state[SAVED] = (chosen, page)
    wanted = gallery.to_query(chosen, page)
    for param in (*PARAMS.values(), PAGE_PARAM):
        value = wanted.get(param)
        if value is None:
            if param in st.query_params:
                del st.query_params[param]
        elif st.query_params.get_all(param) != ([value] if isinstance(value, str) else value):
            st.query_params[param] = value


def filters(table: ScoreTable) -> GalleryFilter:
    """The filter widgets (label, defect type, score range of the reference run, flagged only)."""
    types = gallery.defect_types(table)
    _restore(types)
    c1, c2, c3, c4 = st.columns([2.6, 3, 3, 1.7], vertical_alignment="bottom")
    label = c1.radio("Label", gallery.LABELS, horizontal=True, key=KEYS["label"])
    chosen_types = c2.multiselect(
        "Defect type", types, key=KEYS["defect_types"], placeholder="All defect types"
    )
    scores = c3.slider(
        "Normalised score",
        *gallery.SCORE_RANGE,
        step=0.01,
        key=KEYS["scores"],
        help="Of the reference run; 0.5 is the highest score of a normal training image",
    )
    flagged = c4.toggle("Flagged only", key=FLAGGED_KEY, help="Images flagged for the Review page")
    return GalleryFilter(label, tuple(chosen_types), (float(scores[0]), float(scores[1])), bool(flagged))


@st.cache_data(max_entries=4096, show_spinner=False)
def _thumbnail_png(run_id: int, dataset: str, image_size: int, name: str, store: Store) -> bytes | None:
    """A tile's PNG: the input image at its file's aspect ratio (as the run saw it where there is no file), or
    the run's error map where no picture of the image is available. Kept, since every page run of the gallery
    shows a page of them and encoding them was most of a cached Inspect page's time. `store`: the store they
    come from (a key only)."""
    picture = file_thumbnail(dataset, name)
    if picture is None:
        picture = results_cache.input_image(dataset, image_size, name)
    if picture is None:
        try:
            views = results_cache.image_views(run_id, name)
            lo, hi = results_cache.map_range(run_id)
        except ResultsFileError:
            return None  # the run's row says so
        if views is None:
            return None
        picture = pictures.heat(pictures.own_extent(views.anomaly_map), lo, hi)
    return pictures.png_bytes(picture, THUMB_PX)


def file_thumbnail(dataset: str, name: str) -> np.ndarray | None:
    """A THUMB_PX thumbnail of image `name` of an imported dataset at its file's aspect ratio (H, W, 3) uint8;
    None for a built-in set, a variant or a file that is gone."""
    return _file_thumbnail(dataset, name, app_store())


@st.cache_data(max_entries=1024, show_spinner=False)
def _file_thumbnail(dataset: str, name: str, store: Store) -> np.ndarray | None:
    record = db_datasets.get_dataset(store, dataset)
    if record is None:
        return None
    try:
        with Image.open(inside(Path(record.root), name)) as image:
            image.draft("RGB", (THUMB_PX, THUMB_PX))  # JPEG: decode at a fraction of the size
            picture = image.convert("RGB")
    except (OSError, ValueError, DatasetError):
        return None
    picture.thumbnail((THUMB_PX, THUMB_PX), Image.Resampling.BILINEAR)
    return np.asarray(picture)


def _tile(run: RunInfo, table: ScoreTable, ranks: np.ndarray, name: str, flagged: set[str]) -> Tile:
    i = table.index(name)
    truth = "normal" if table.labels[i] == 0 else f"anomalous ({table.defect_types[i]})"
    mark = " ⚑" if name in flagged else ""
    return Tile(
        name=name,
        png=_thumbnail_png(run.id, run.dataset, run.image_size, name, app_store()),
        caption=f"#{ranks[i]} · {table.scores_normalized[i]:.2f}{mark}",
        hover=f"<b>{html.escape(name)}</b><br>{html.escape(truth)}<br>normalised score "
        f"{table.scores_normalized[i]:.2f}{mark}",  # Plotly reads tags in it: names are escaped
    )


def pager_key(chosen: GalleryFilter) -> str:
    """The pager's widget key, one per filter: a changed filter gets a new pager, which starts on page 1."""
    return f"gallery_page_{zlib.crc32(repr(chosen).encode()):08x}"


def gallery_page(
    run: RunInfo, table: ScoreTable, names: list[str], chosen: GalleryFilter, flagged: set[str]
) -> None:
    """One page of the filtered `names` as clickable thumbnails with 'page k of n' and a pager; a click
    opens the image (session key `inspect_image`)."""
    state = st.session_state
    previous, page = state.get(SAVED, (None, 1))
    start = gallery.page_of(names, gallery.page_after(previous, chosen, page)).page
    head, pager = st.columns([3, 2], vertical_alignment="center")
    with pager:
        pages = gallery.page_of(names, 1).pages
        page = st.pagination(pages, default=start, key=pager_key(chosen), width="stretch")
    shown = gallery.page_of(names, page)
    _remember(chosen, shown.page)
    head.caption(f"{shown.caption} · ordered by {run.label}; click a thumbnail to open it")
    if not shown.names:
        return
    current = state.get("inspect_image")
    clicked = clicked_name(state.get(grid_key(shown.page, current)))
    if clicked in shown.names and clicked != current:
        state["inspect_image"] = current = clicked
    ranks = score_table.ranks(table.scores)
    tiles = [_tile(run, table, ranks, name, flagged) for name in shown.names]
    st.plotly_chart(
        grid_figure(tiles, current),
        key=grid_key(shown.page, current),
        on_select="rerun",
        selection_mode="points",
        config={"displayModeBar": False},
    )
