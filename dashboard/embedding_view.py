"""Parts of the Embeddings page: which image is selected (a click on a point in any run's map, or its name),
kept across page switches and in the URL, and the side panel with its thumbnail and its score in each run."""

from __future__ import annotations

import zlib
from collections.abc import Sequence

import streamlit as st

from dashboard import pictures, results_cache, score_table
from dashboard.gallery_figure import clicked_name
from dashboard.inspect_view import original_picture, shown_size
from dashboard.run_info import RunInfo
from dashboard.safe_text import literal

KEY = "embedding_image"  # the side panel's selectbox
SAVED = "embedding_selected"  # the selection, kept while other pages run
RESTORED = "embedding_restored"
PARAM = "tsne_image"  # its URL query parameter
PANEL_WIDTH = 1.6  # of the maps' 4: about 300 px at 1280 px, so image names do not break inside a word


def chart_key(run_id: int, selected: str | None) -> str:
    """A run's map widget key: a new one whenever the selection changes, so every map starts without a
    selection and the next click on any point (the ringed one included) is news."""
    return f"tsne_{run_id}_{zlib.crc32(str(selected).encode()):08x}"


def selected_image(run_ids: Sequence[int], names: Sequence[str]) -> str | None:
    """The selected image: a point just clicked in any run's map, else the one selected before (this session,
    else the URL's), if it is among `names`. Call before the maps and the selectbox are drawn."""
    state = st.session_state
    if not state.get(RESTORED):
        state[RESTORED] = True
        if PARAM in st.query_params:
            state.setdefault(SAVED, st.query_params[PARAM])
    if KEY not in state and state.get(SAVED) in names:
        state[KEY] = state[SAVED]
    current = state.get(KEY)
    for run_id in run_ids:
        clicked = clicked_name(state.get(chart_key(run_id, current)))
        if clicked in names and clicked != current:
            state[KEY] = current = clicked
            break
    return current if current in names else None


def remember(name: str | None) -> None:
    """Keep the selection for the next visit and write it into the URL."""
    st.session_state[SAVED] = name
    if name is None:
        if PARAM in st.query_params:
            del st.query_params[PARAM]
    elif st.query_params.get(PARAM) != name:
        st.query_params[PARAM] = name


def side_panel(runs: Sequence[RunInfo], name: str) -> None:
    """The image across the panel (its file's own resolution, full size from its fullscreen button), then its
    score, rank and truth in each run."""
    first = runs[0]
    picture = original_picture(first.dataset, name)
    if picture is None:
        picture = results_cache.input_image(first.dataset, first.image_size, name)
    if picture is not None:
        st.image(pictures.png_bytes(picture, shown_size(picture)), caption=literal(name), width="stretch")
    else:
        st.caption(f"{literal(name)} (image file not available)")
    for run in runs:
        table = results_cache.score_table(run.id)
        i = table.index(name)
        if i is None:
            st.caption(f"{run.label}: not among its test images")
            continue
        rank = int(score_table.ranks(table.scores)[i])
        truth = "normal" if table.labels[i] == 0 else f"anomalous ({table.defect_types[i]})"
        st.markdown(
            f"**{run.label}**  \nscore {table.scores[i]:.4g} (normalised {table.scores_normalized[i]:.2f})"
            f"  \nrank {rank} of {len(table.names)} · {literal(truth)}"
        )
