"""The picture side of the Label page: reading the image file, and the drawing canvas over it with the saved mask
tinted red, whose semi-transparent strokes are kept in the session (made opaque) for the next save."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import streamlit as st

from dashboard.safe_text import literal
from dashboard.thumbs import read_rgb, resized
from db.labels import LabelState
from engine.data import DatasetError
from engine.data.masks import DRAW_COLOR, ERASE_COLOR, inside, overlay

CANVAS_WIDTH = 384  # px at zoom 1: under the filters and tools its bottom is at ~880 px of a 1440x900 window
STROKE_ALPHA = 0.45  # the image stays visible under a stroke, as under the saved mask's tint
STROKE_COLORS = {"draw": DRAW_COLOR, "erase": ERASE_COLOR}  # '#rrggbb': what apply_strokes tells apart
ZOOMS = (1.0, 1.5, 2.0, 3.0, 4.0)
TOOLBAR_CLEARANCE = 16  # px of space above the canvas: its undo/redo toolbar floats 2.65rem above it
log = logging.getLogger(__name__)


def read_pixels(root: str, relpath: str) -> np.ndarray | None:
    """The image as (H, W, 3) uint8; None, with one sentence on the page and the details in the server log,
    when its file is missing or cannot be decoded."""
    try:
        return read_rgb(inside(Path(root), relpath))
    except (OSError, ValueError, DatasetError):  # PIL's UnidentifiedImageError is an OSError
        log.warning("image %s of the dataset at %s could not be read", relpath, root, exc_info=True)
        st.error(
            f"The image file {literal(relpath)} is missing or cannot be read, so it cannot be labeled here; "
            "go on with Next."
        )
        return None


def stroke_color(brush: str, alpha: float = STROKE_ALPHA) -> str:
    """The CSS colour of a brush: red draws, blue erases, both see-through."""
    hex_color = STROKE_COLORS[brush]
    red, green, blue = (int(hex_color[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({red}, {green}, {blue}, {alpha})"


def opaque_strokes(rgba: np.ndarray | None, alpha: float = STROKE_ALPHA) -> np.ndarray | None:
    """The canvas image (h, w, 4) with see-through strokes made opaque, so the saved mask is binary: a pixel
    at least half as covered as a stroke's middle counts, lighter anti-aliased edges do not."""
    if rgba is None or np.asarray(rgba).ndim != 3:
        return rgba
    out = np.array(rgba, dtype=np.uint8, copy=True)
    painted = out[..., 3] >= alpha * 255 / 2
    out[..., 3] = np.where(painted, 255, 0)
    return out


def draw(state: LabelState, pixels: np.ndarray, mask: np.ndarray | None) -> None:
    """Brush tools, zoom and the canvas; the strokes go to `label_strokes` with the image they were drawn on."""
    from streamlit_drawable_canvas import st_canvas  # registers itself: only inside a running app

    height, width = pixels.shape[:2]
    tools = st.columns([2, 3, 2])
    brush = tools[0].radio(
        "Brush", ["draw", "erase"], horizontal=True, key="brush", help="Red adds to the mask, blue erases"
    )
    stroke = tools[1].slider("Brush size", 2, 40, 12, key="brush_size")
    zoom = tools[2].select_slider(
        "Zoom",
        ZOOMS,
        value=1.0,
        format_func=lambda z: f"{z:g}x",
        key="label_zoom",
        help="Enlarges the canvas (scroll inside it); strokes not yet saved are cleared on a change",
    )
    st.space(TOOLBAR_CLEARANCE)
    canvas_width = round(CANVAS_WIDTH * zoom)
    canvas_height = max(32, round(canvas_width * height / width))
    canvas = st_canvas(
        stroke_color=stroke_color(brush),
        stroke_width=round(stroke * zoom),
        background_image=resized(overlay(pixels, mask), canvas_width, canvas_height),
        height=canvas_height,
        width=canvas_width,
        drawing_mode="freedraw",
        return_image_data=True,
        max_display_height=max(32, round(CANVAS_WIDTH * height / width)),
        key=f"canvas-{state.image_id}-{zoom:g}-{st.session_state.get('label_nonce', 0)}",
    )
    st.session_state["label_strokes"] = (state.image_id, opaque_strokes(canvas.image_data))
    st.caption(
        "The saved mask is tinted red. Strokes are saved with **Anomalous**; undo/reset: hover the canvas."
    )
