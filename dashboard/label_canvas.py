"""The picture side of the Label page: reading the image file, and the drawing canvas over it with the saved mask
tinted red, whose strokes are kept in the session for the next save."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import streamlit as st
from streamlit_drawable_canvas import st_canvas

from dashboard.thumbs import read_rgb, resized
from db.labels import LabelState
from engine.data import DatasetError
from engine.data.masks import DRAW_COLOR, ERASE_COLOR, inside, overlay

CANVAS_WIDTH = 448
log = logging.getLogger(__name__)


def read_pixels(root: str, relpath: str) -> np.ndarray | None:
    """The image as (H, W, 3) uint8; None, with one sentence on the page and the details in the server log,
    when its file is missing or cannot be decoded."""
    try:
        return read_rgb(inside(Path(root), relpath))
    except (OSError, ValueError, DatasetError):  # PIL's UnidentifiedImageError is an OSError
        log.warning("image %s of the dataset at %s could not be read", relpath, root, exc_info=True)
        st.error(
            f"The image file {relpath} is missing or cannot be read, so it cannot be labeled here; "
            "go on with Next."
        )
        return None


def draw(state: LabelState, pixels: np.ndarray, mask: np.ndarray | None) -> None:
    """Brush tools and the canvas; the strokes go to `label_strokes` with the image they were drawn on."""
    height, width = pixels.shape[:2]
    tools = st.columns(2)
    brush = tools[0].radio(
        "Brush", ["draw", "erase"], horizontal=True, key="brush", help="Red adds to the mask, blue erases"
    )
    stroke = tools[1].slider("Brush size", 2, 40, 12, key="brush_size")
    canvas_height = max(32, round(CANVAS_WIDTH * height / width))
    canvas = st_canvas(
        stroke_color=DRAW_COLOR if brush == "draw" else ERASE_COLOR,
        stroke_width=stroke,
        background_image=resized(overlay(pixels, mask), CANVAS_WIDTH, canvas_height),
        height=canvas_height,
        width=CANVAS_WIDTH,
        drawing_mode="freedraw",
        return_image_data=True,
        key=f"canvas-{state.image_id}-{st.session_state.get('label_nonce', 0)}",
    )
    st.session_state["label_strokes"] = (state.image_id, canvas.image_data)
    st.caption(
        "The saved mask is tinted red. Strokes are saved with **Anomalous**; undo/reset in the canvas toolbar."
    )
