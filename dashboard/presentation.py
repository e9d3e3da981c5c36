"""The Review page's presentation (a slide deck for a projector): the page style that hides the sidebar and the
app's header, the arrow keys that turn the slides, and the figures restyled for it. Every size here is set so
a slide fits a 1280x720 screen (and so a 1920x1080 one) without scrolling; tests/e2e checks each slide."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.colors import hex_to_rgb, sequential

from dashboard.plot_template import WHITE
from dashboard.run_info import fmt
from dashboard.thresholds import Confusion

FONT_PX = 18  # text, legends, hover labels: read from the back of the room at 1280x720
TICK_PX = 14  # the smallest text: colour-bar ticks of the small maps
AXIS_TITLE_PX = 20
TITLE_PX = 22
BAR_TEXT_PX = 18
CELL_TEXT_PX = 26  # numbers inside the confusion matrices
# Inferno, dark at the low end (unlike the defect outline, green, and red mask tints), as rgb() strings: Streamlit
# takes the hex colours #000001-#000040 for placeholders of its theme and redraws them, so Inferno's own first
# colour, #000004, came out salmon pink at the low end of every map.
MAP_COLOURS = [
    [k / (len(sequential.Inferno) - 1), "rgb({}, {}, {})".format(*hex_to_rgb(c))]
    for k, c in enumerate(sequential.Inferno)
]
MAP_OPACITY = 0.6  # of a map over its image: the image stays readable under the hot spots
# 720 px less the bar of buttons on top (about 60 px with its margins) and the page's own margins: what a
# slide's content may take. Figures and boxes are sized from it, so a slide never needs scrolling.
SLIDE_PX = 600
FIGURE_PX = SLIDE_PX - 10  # one figure alone on its slide (ROC, AUROC per defect type)

STYLE = """
<style>
[data-testid="stSidebar"], [data-testid="stSidebarCollapsedControl"], [data-testid="stExpandSidebarButton"],
[data-testid="stHeader"], [data-testid="stToolbar"], [data-testid="stDecoration"] { display: none !important; }
[data-testid="stMainBlockContainer"] { padding: 0.6rem 1rem 0.4rem !important; max-width: 100% !important; }
[data-testid="stMain"] { font-size: 18px; }
[data-testid="stMain"] .stMarkdown p, [data-testid="stMain"] .stMarkdown li,
[data-testid="stMain"] [data-testid="stCaptionContainer"], [data-testid="stMain"] button p,
[data-testid="stMain"] [data-testid="stSelectbox"] input { font-size: 1.15rem; }
[data-testid="stMain"] [data-testid="stTable"] table { font-size: 1.25rem; }
[data-testid="stMain"] [data-testid="stTable"] td, [data-testid="stMain"] [data-testid="stTable"] th {
  padding: 0.35rem 0.7rem; white-space: nowrap; }
[data-testid="stMain"] h3 { font-size: 1.5rem; padding: 0 0 0.3rem; }
</style>
"""
# Streamlit has no key events: this script (run once per page load, in the page itself) clicks the deck's
# Previous and Next buttons on the arrow keys and on a presenter's clicker (Page Up / Page Down). Keys typed
# into a text box, a picker or a list stay theirs.
KEYS = """
<script>
(() => {
  if (window.__workbenchDeckKeys) return;
  window.__workbenchDeckKeys = true;
  const buttons = {ArrowRight: "section_next", PageDown: "section_next", ArrowLeft: "section_back",
                   PageUp: "section_back"};
  document.addEventListener("keydown", (event) => {
    const key = buttons[event.key];
    if (!key || event.defaultPrevented || event.altKey || event.ctrlKey || event.metaKey) return;
    const target = event.target;
    if (target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName))) return;
    if (target && target.closest && target.closest('[role="listbox"], [role="dialog"]')) return;
    const button = document.querySelector(`.st-key-${key} button`);
    if (!button || button.disabled) return;
    event.preventDefault();
    button.click();
  }, true);
})();
</script>
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
        margin={"l": 80, "r": 30, "t": 60, "b": 70},
        uniformtext={"minsize": TICK_PX, "mode": "hide"},  # a bar label that would overlap is left out
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


def confusion_figure(fig: go.Figure, height: int) -> go.Figure:
    """A `figures.confusion_figure` for a slide: short tick labels (four fit side by side at 1280 px),
    'called' and 'truth' as axis titles."""
    fig = presentation_style(fig, height)
    fig.update_xaxes(
        tickvals=["called normal", "called anomalous"],
        ticktext=["normal", "anomalous"],
        title={"text": "called", "font": {"size": AXIS_TITLE_PX}},
    )
    fig.update_layout(margin={"l": 110, "r": 10, "t": 50, "b": 60}, title_font_size=FONT_PX)
    return fig


def confusion_line(confusion: Confusion) -> str:
    """'precision **0.93** · recall **0.90**' under a matrix (Markdown)."""
    return f"precision **{fmt(confusion.precision, 2)}** · recall **{fmt(confusion.recall, 2)}**"


def _picture_layout(fig: go.Figure, title: str, height: int) -> go.Figure:
    fig.update_xaxes(visible=False, constrain="domain")
    fig.update_yaxes(visible=False, autorange="reversed", scaleanchor="x", constrain="domain")
    fig.update_layout(
        title={"text": title, "font": {"size": FONT_PX}, "y": 0.98, "yanchor": "top"},
        height=height,
        margin={"l": 4, "r": 4, "t": 34, "b": 4},
        dragmode="zoom",
        template=WHITE,
    )
    return fig


def picture_figure(picture: np.ndarray, title: str, height: int) -> go.Figure:
    """An (H, W) or (H, W, 3) uint8 picture as a zoomable figure (drag a box to zoom, double-click to reset)."""
    rgb = np.asarray(picture)
    if rgb.ndim == 2:
        rgb = np.repeat(rgb[..., None], 3, axis=-1)
    fig = go.Figure(go.Image(z=rgb, hoverinfo="skip"))
    return _picture_layout(fig, title, height)


def map_figure(
    picture: np.ndarray | None,
    values: np.ndarray,
    lo: float,
    hi: float,
    title: str,
    bar_title: str,
    height: int,
) -> go.Figure:
    """An (H, W) error or attention map over its picture (when known), zoomable, coloured from dark (`lo`) to
    bright (`hi`) with a colour bar on its right; one `lo`-`hi` per run keeps its maps comparable."""
    z = np.nan_to_num(np.asarray(values, dtype=np.float32))
    fig = go.Figure()
    x0 = y0 = 0.0
    dx = dy = 1.0
    if picture is not None:
        rgb = np.asarray(picture)
        rgb = np.repeat(rgb[..., None], 3, axis=-1) if rgb.ndim == 2 else rgb
        fig.add_trace(go.Image(z=rgb, hoverinfo="skip"))
        dy, dx = rgb.shape[0] / z.shape[0], rgb.shape[1] / z.shape[1]  # a map coarser than its image
        x0, y0 = (dx - 1) / 2, (dy - 1) / 2
    fig.add_trace(
        go.Heatmap(
            z=np.round(z, 5),
            x0=x0,
            dx=dx,
            y0=y0,
            dy=dy,
            zmin=lo,
            zmax=hi,
            colorscale=MAP_COLOURS,
            opacity=MAP_OPACITY if picture is not None else 1.0,
            colorbar={
                "title": {"text": bar_title, "side": "right", "font": {"size": FONT_PX}},
                "tickfont": {"size": TICK_PX},
                "thickness": 12,
                "len": 0.9,
                "nticks": 4,
            },
            hovertemplate="x %{x:.0f}, y %{y:.0f}: %{z:.4g}<extra></extra>",
        )
    )
    return _picture_layout(fig, title, height)
