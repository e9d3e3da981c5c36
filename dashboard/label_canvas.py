"""The picture side of the Label page: reading the image file, the brush and zoom tools, and the drawing canvas
over the image with the saved mask tinted red, whose semi-transparent strokes are kept in the session (made
opaque) for the next save. A zoom change keeps the strokes drawn so far (scaled with the picture)."""

from __future__ import annotations

import copy
import io
import logging
from pathlib import Path
from typing import Any

import numpy as np
import streamlit as st

from dashboard.safe_text import literal
from dashboard.thumbs import read_rgb, resized
from db.labels import LabelState
from engine.data.masks import DRAW_COLOR, ERASE_COLOR, inside, overlay
from engine.data.types import DatasetError

# px at zoom 1: under the title and the navigation row its bottom is at ~670 px of a 1280x720 window
CANVAS_WIDTH = 384
STROKE_ALPHA = 0.45  # the image stays visible under a stroke, as under the saved mask's tint
STROKE_COLORS = {"draw": DRAW_COLOR, "erase": ERASE_COLOR}  # '#rrggbb': what apply_strokes tells apart
ZOOMS = (1.0, 1.5, 2.0, 3.0, 4.0)
TOOLBAR_CLEARANCE = 16  # px of space above the canvas: its undo/redo toolbar floats 2.65rem above it
DRAWING = "label_drawing"  # the canvas key, its zoom, the drawing it started from and its latest drawing
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


def scaled_drawing(drawing: dict[str, Any] | None, factor: float) -> dict[str, Any] | None:
    """A Fabric.js drawing (the canvas's `json_data`) with every object scaled by `factor` about the canvas's
    top-left corner: the strokes of one zoom placed on the canvas of another."""
    if not drawing or not drawing.get("objects"):
        return None
    out = copy.deepcopy(drawing)
    for item in out["objects"]:
        for field in ("left", "top", "scaleX", "scaleY"):
            item[field] = float(item.get(field, 1.0 if field.startswith("scale") else 0.0)) * factor
    return out


def tools() -> None:
    """Brush, brush size and zoom (drawn beside the canvas; the canvas reads their values from the session)."""
    a, b = st.columns([3, 2])
    a.radio(
        "Brush", list(STROKE_COLORS), horizontal=True, key="brush", help="Red adds to the mask, blue erases"
    )
    b.select_slider(
        "Zoom",
        ZOOMS,
        value=1.0,
        format_func=lambda z: f"{z:g}x",
        key="label_zoom",
        help="Enlarges the picture; scroll inside it (Shift + wheel sideways). Strokes drawn so far stay",
    )
    st.slider("Brush size", 2, 40, 12, key="brush_size")


def _initial_drawing(key: str, zoom: float) -> dict[str, Any] | None:
    """The drawing the canvas `key` starts from at `zoom`: none on a new image (or after a save), the same one
    while the zoom stays (a changed one would redraw the canvas), the latest strokes scaled after a zoom change."""
    kept = st.session_state.get(DRAWING)
    if kept is None or kept["key"] != key:
        return None
    if kept["zoom"] == zoom:
        return kept["initial"]
    return scaled_drawing(kept["latest"], zoom / kept["latest_zoom"])


def _keep_drawing(
    key: str, zoom: float, initial: dict[str, Any] | None, latest: dict[str, Any] | None
) -> None:
    """Remember the canvas's drawing and the zoom it was drawn at: a drawing that changed since the last run was
    sent by the canvas as that run showed it; an unchanged one keeps its zoom (the canvas has not answered a
    zoom change yet)."""
    kept = st.session_state.get(DRAWING)
    if kept is None or kept["key"] != key:
        latest_zoom = zoom
    else:
        latest_zoom = kept["latest_zoom"] if latest == kept["latest"] else kept["zoom"]
    st.session_state[DRAWING] = {
        "key": key,
        "zoom": zoom,
        "initial": initial,
        "latest": latest,
        "latest_zoom": latest_zoom,
    }


@st.cache_data(max_entries=32, show_spinner=False)
def background_png(pixels: np.ndarray, mask: np.ndarray | None, width: int, height: int) -> bytes:
    """The canvas's background, the image with its saved mask tinted, as a PNG at `width` x `height`: made once
    per image, mask and zoom (given a picture, the canvas encodes it again on every run of the page, which was
    the Label page's largest cost on a busy server)."""
    buffer = io.BytesIO()
    resized(overlay(pixels, mask), width, height).convert("RGBA").save(buffer, format="PNG")
    return buffer.getvalue()


def draw(state: LabelState, pixels: np.ndarray, mask: np.ndarray | None) -> None:
    """The canvas at the chosen zoom; the strokes go to `label_strokes` with the image they were drawn on."""
    from streamlit_drawable_canvas import st_canvas  # registers itself: only inside a running app

    height, width = pixels.shape[:2]
    brush = st.session_state.get("brush", "draw")
    stroke = int(st.session_state.get("brush_size", 12))
    zoom = float(st.session_state.get("label_zoom", 1.0))
    st.space(TOOLBAR_CLEARANCE)
    canvas_width = round(CANVAS_WIDTH * zoom)
    canvas_height = max(32, round(canvas_width * height / width))
    key = f"canvas-{state.image_id}-{st.session_state.get('label_nonce', 0)}"  # one per image and save
    initial = _initial_drawing(key, zoom)
    canvas = st_canvas(
        stroke_color=stroke_color(brush),
        stroke_width=round(stroke * zoom),
        background_image=background_png(pixels, mask, canvas_width, canvas_height),
        height=canvas_height,
        width=canvas_width,
        drawing_mode="freedraw",
        initial_drawing=initial,
        return_image_data=True,
        max_display_height=max(32, round(CANVAS_WIDTH * height / width)),  # zoomed: scroll inside this box
        key=key,
    )
    _keep_drawing(key, zoom, initial, canvas.json_data)
    st.session_state["label_strokes"] = (state.image_id, opaque_strokes(canvas.image_data))
    st.caption(
        "The saved mask is tinted red. Strokes are saved with **Anomalous**; undo/reset: hover the canvas."
    )
