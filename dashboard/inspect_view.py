"""Part of the Inspect page: one row of pictures and facts per run (the gallery is in gallery_view.py)."""

from __future__ import annotations

import numpy as np
import streamlit as st

from dashboard import pictures, results, results_cache
from dashboard.results import ResultsFileError, RunInfo, ScoreTable
from dashboard.safe_text import literal

PICTURE_PX = 192  # pictures in a run's row are drawn at this width


def _verdict(called: bool, label: int) -> str:
    if called:
        return "anomalous ✓" if label == 1 else "anomalous ✗ (false positive)"
    return "normal ✓" if label == 0 else "normal ✗ (false negative)"


def run_row(run: RunInfo, name: str, threshold: float) -> None:
    """Input (mask outlined), reconstruction, error map (one colour scale per run), attention overlay, then
    score, rank and the call at `threshold`."""
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
    picture = results_cache.input_image(run.dataset, run.image_size, name)
    base = picture if picture is not None else np.zeros(views.anomaly_map.shape, np.uint8)
    cols = st.columns([1, 1, 1, 1, 1.2])
    if picture is not None:
        shown = pictures.outline(picture, views.mask) if views.mask is not None else picture
        cols[0].image(
            pictures.png_bytes(shown, PICTURE_PX),
            caption="input (defect outlined)" if views.mask is not None else "input",
        )
    else:
        cols[0].caption("input image not available")
    if views.reconstruction is not None:
        cols[1].image(pictures.png_bytes(views.reconstruction, PICTURE_PX), caption="reconstruction")
    else:
        cols[1].caption("no reconstruction (the method has none)")
    error = pictures.heat(views.anomaly_map, lo, hi)
    cols[2].image(pictures.png_bytes(error, PICTURE_PX), caption="error map (scale shared by the run)")
    if views.attention is not None:
        att = pictures.overlay(base, views.attention, alpha=0.6)
        cols[3].image(pictures.png_bytes(att, PICTURE_PX), caption="attention")
    else:
        cols[3].caption("no attention map (the method has none)")
    cols[4].markdown(_facts(table, i, threshold))


def _facts(table: ScoreTable, i: int, threshold: float) -> str:
    """Score, normalised score, rank and the call at `threshold` of image `i`, as markdown."""
    rank = int(results.ranks(table.scores)[i])
    called = bool(table.scores_normalized[i] >= threshold)
    return (
        f"score **{table.scores[i]:.4g}**  \nnormalised **{table.scores_normalized[i]:.2f}**"
        f"  \nrank **{rank}** of {len(table.names)}  \nat {threshold:.2f}: {_verdict(called, int(table.labels[i]))}"
    )
