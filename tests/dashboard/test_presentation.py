"""Presentation styling: projector-sized text on every figure of the Review page, read back from the spec."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from dashboard import figures, presentation
from dashboard.thresholds import confusion_at
from tests.dashboard.test_figures import make_run

PX = presentation.FONT_PX  # the smallest text a meeting room reads at 1280x720 (ticks: TICK_PX)


def _spec(fig) -> dict:
    return json.loads(fig.to_json())


def _axis_font(spec: dict, axis: str, part: str = "tickfont") -> float:
    """The font size an axis part is drawn with: its own, else the layout's, else the template's."""
    layout = spec["layout"]
    own = layout.get(axis, {}).get(part, {}).get("size")
    return (
        own
        or layout.get("font", {}).get("size")
        or layout["template"]["layout"].get("font", {}).get("size", 12)
    )


def _legend_font(spec: dict) -> float:
    layout = spec["layout"]
    return (
        layout.get("legend", {}).get("font", {}).get("size")
        or layout.get("font", {}).get("size")
        or layout["template"]["layout"].get("font", {}).get("size", 12)
    )


def _figures():
    runs = [make_run(1, "vae", 0.9, {"a": 0.8, "b": 0.6}), make_run(2, "padim", 0.75, {"a": 0.7})]
    confusion = confusion_at(np.array([0, 0, 1, 1]), np.array([0.1, 0.7, 0.6, 0.9]), 0.5)
    return {
        "roc": figures.add_threshold_markers(figures.roc_figure(runs), runs, {1: confusion}),
        "defects": figures.defect_auroc_figure(runs),
        "confusion": figures.confusion_figure(confusion, "vae #1"),
    }


@pytest.mark.parametrize("name", ["roc", "defects", "confusion"])
def test_presentation_text_is_projector_sized_and_the_page_figure_is_not_touched(name):
    fig = _figures()[name]
    before = _spec(fig)
    assert _axis_font(before, "xaxis") < PX  # the page's figures: Plotly's 12 px
    styled = _spec(presentation.presentation_style(fig, height=500))
    for axis in ("xaxis", "yaxis"):
        assert _axis_font(styled, axis) >= PX
        assert _axis_font(styled, axis, "title") >= PX
    assert _legend_font(styled) >= PX and styled["layout"]["title"]["font"]["size"] > PX
    assert styled["layout"]["height"] == 500
    assert _spec(fig) == before  # a styled copy


def test_bar_labels_and_matrix_cells_are_enlarged():
    figs = _figures()
    bars = _spec(presentation.presentation_style(figs["defects"]))
    assert all(t["textfont"]["size"] >= PX for t in bars["data"])
    cells = _spec(presentation.presentation_style(figs["confusion"]))
    assert cells["data"][0]["textfont"]["size"] >= 20


def test_the_roc_fills_the_width_and_keeps_its_threshold_markers():
    styled = _spec(presentation.presentation_style(_figures()["roc"]))
    assert "scaleanchor" not in styled["layout"]["yaxis"]  # a square plot area would leave the sides empty
    [marker] = [t for t in styled["data"] if t["mode"] == "markers"]
    assert marker["name"] == "vae #1 at 0.500" and marker["marker"]["size"] >= 16
    assert (marker["x"], marker["y"]) == ([0.5], [1.0])  # 1 of 2 normals called anomalous, both anomalies


def test_maps_lie_over_their_picture_with_a_colour_bar_on_the_runs_scale_and_zoom():
    values = np.linspace(0, 2, 64, dtype=np.float32).reshape(8, 8)
    picture = np.zeros((32, 32, 3), np.uint8)  # a map coarser than its image is stretched over it
    spec = _spec(presentation.map_figure(picture, values, 0.5, 1.5, "vae #1: 0.910", "error", height=300))
    image, heat = spec["data"]
    assert image["type"] == "image" and heat["type"] == "heatmap" and 0 < heat["opacity"] < 1
    assert (heat["dx"], heat["dy"], heat["x0"], heat["y0"]) == (4, 4, 1.5, 1.5)  # pixel centres line up
    assert (heat["zmin"], heat["zmax"]) == (0.5, 1.5) and heat["colorbar"]["title"]["text"] == "error"
    assert heat["colorbar"]["tickfont"]["size"] >= presentation.TICK_PX
    assert heat["colorbar"]["title"]["font"]["size"] >= presentation.FONT_PX
    assert spec["layout"]["dragmode"] == "zoom" and spec["layout"]["yaxis"]["autorange"] == "reversed"
    assert spec["layout"]["height"] == 300
    alone = _spec(presentation.picture_figure(np.zeros((8, 8), np.uint8), "input", height=300))
    assert alone["data"][0]["type"] == "image" and alone["layout"]["title"]["text"] == "input"


def test_the_map_colours_start_dark_and_hold_no_streamlit_placeholder():
    """Streamlit redraws the hex colours #000001-#000040 as its theme's: Inferno's #000004 came out salmon pink."""
    first = presentation.MAP_COLOURS[0][1]
    assert first == "rgb(0, 0, 4)" and presentation.MAP_COLOURS[-1][0] == 1.0
    assert not any(
        re.fullmatch(r"#0000[0-3][0-9a-f]", colour, re.I) for _, colour in presentation.MAP_COLOURS
    )
    spec = _spec(presentation.map_figure(None, np.eye(4), 0.0, 1.0, "t", "error", height=200))
    assert spec["data"][0]["colorscale"][0][1] == "rgb(0, 0, 4)"


def test_confusion_matrices_on_a_slide_have_short_ticks_and_large_cells():
    confusion = confusion_at(np.array([0, 1]), np.array([0.2, 0.9]), 0.5)
    spec = _spec(presentation.confusion_figure(figures.confusion_figure(confusion, "vae #1"), height=230))
    assert spec["layout"]["xaxis"]["ticktext"] == ["normal", "anomalous"]  # four fit side by side at 1280 px
    assert spec["layout"]["xaxis"]["title"]["font"]["size"] >= presentation.FONT_PX
    assert spec["data"][0]["textfont"]["size"] >= presentation.FONT_PX and spec["layout"]["height"] == 230
