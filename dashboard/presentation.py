"""Presentation mode for review meetings: figures restyled for a projector (fonts read from the back of the
room at 1280x720), zoomable pictures with a colour bar, and the page's larger text."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

# Plotly's default 12 px ticks and legends drew about 10 px on a 1280x720 screen, bar labels about 6 px.
FONT_PX = 18  # ticks, legends, hover labels, colour bars
AXIS_TITLE_PX = 20
TITLE_PX = 26
BAR_TEXT_PX = 18
CELL_TEXT_PX = 24  # numbers inside heat-map cells (the confusion matrices)
ROC_HEIGHT = (
    440  # at 1280x720 the ROC starts 256 px down (heading, run picker, navigation): it ends on screen
)
PICTURE_HEIGHT = 340
MAP_COLOURS = "Inferno"  # the colour map of dashboard.pictures.heat, so both modes look alike

CSS = """
<style>
[data-testid="stMainBlockContainer"] { padding-top: 2.2rem; max-width: 100%; }
[data-testid="stMain"] .stMarkdown p, [data-testid="stMain"] .stMarkdown li,
[data-testid="stMain"] [data-testid="stCaptionContainer"] { font-size: 1.3rem; }
[data-testid="stMain"] [data-testid="stTable"] table { font-size: 1.25rem; }
[data-testid="stMain"] h1 { font-size: 2rem; padding: 0; }
</style>
"""


def presentation_style(fig: go.Figure, height: int | None = None) -> go.Figure:
    """A copy of `fig` with projector-sized text (ticks, legend, titles, bar labels, colour bars), thicker
    lines, and no fixed aspect ratio so the plot fills the width it is given."""
    fig = go.Figure(fig)
    fig.update_layout(
        font={"size": FONT_PX},
        title_font_size=TITLE_PX,
        legend_font_size=FONT_PX,
        hoverlabel_font_size=FONT_PX,
        margin={"l": 80, "r": 30, "t": 70, "b": 70},
    )
    if height is not None:
        fig.update_layout(height=height)
    fig.update_xaxes(tickfont_size=FONT_PX, title_font_size=AXIS_TITLE_PX, scaleanchor=None)
    fig.update_yaxes(tickfont_size=FONT_PX, title_font_size=AXIS_TITLE_PX, scaleanchor=None)
    fig.update_traces(textfont_size=BAR_TEXT_PX, selector={"type": "bar"})
    fig.update_traces(line_width=4, selector={"type": "scatter", "mode": "lines"})
    fig.update_traces(marker_size=18, selector={"type": "scatter", "mode": "markers"})
    fig.update_traces(
        textfont_size=CELL_TEXT_PX, colorbar_tickfont_size=FONT_PX, selector={"type": "heatmap"}
    )
    return fig


def _picture_layout(fig: go.Figure, title: str, height: int) -> go.Figure:
    fig.update_xaxes(visible=False, constrain="domain")
    fig.update_yaxes(visible=False, autorange="reversed", scaleanchor="x", constrain="domain")
    fig.update_layout(
        title={"text": title, "font": {"size": FONT_PX}},
        height=height,
        margin={"l": 5, "r": 5, "t": 45, "b": 90},  # room for a map's colour bar: pictures and maps align
        dragmode="zoom",
        template="plotly_white",
    )
    return fig


def picture_figure(picture: np.ndarray, title: str, height: int = PICTURE_HEIGHT) -> go.Figure:
    """An (H, W) or (H, W, 3) uint8 picture as a zoomable figure (drag a box to zoom, double-click to reset)."""
    rgb = np.asarray(picture)
    if rgb.ndim == 2:
        rgb = np.repeat(rgb[..., None], 3, axis=-1)
    fig = go.Figure(go.Image(z=rgb, hoverinfo="skip"))
    return _picture_layout(fig, title, height)


def map_figure(
    values: np.ndarray, lo: float, hi: float, title: str, bar_title: str, height: int = PICTURE_HEIGHT
) -> go.Figure:
    """An (H, W) error or attention map, zoomable, coloured between `lo` and `hi` with a colour bar."""
    z = np.nan_to_num(np.asarray(values, dtype=np.float32))
    fig = go.Figure(
        go.Heatmap(
            z=np.round(z, 5),
            zmin=lo,
            zmax=hi,
            colorscale=MAP_COLOURS,
            colorbar={  # under the map, so the map keeps the figure's width
                "title": {"text": bar_title, "side": "top"},
                "tickfont": {"size": FONT_PX},
                "orientation": "h",
                "y": -0.02,
                "yanchor": "top",
                "thickness": 14,
            },
            hovertemplate="x %{x}, y %{y}: %{z:.4g}<extra></extra>",
        )
    )
    return _picture_layout(fig, title, height)
