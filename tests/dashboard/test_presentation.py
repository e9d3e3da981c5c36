"""Presentation styling: projector-sized text on every figure of the Review page, read back from the spec."""

from __future__ import annotations

import json

import numpy as np
import pytest

from dashboard import figures, presentation
from dashboard.results import confusion_at
from tests.dashboard.test_figures import make_run

PX = 16  # the smallest text a meeting room reads at 1280x720


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
    assert marker["name"] == "vae #1 at 0.50" and marker["marker"]["size"] >= 16
    assert (marker["x"], marker["y"]) == ([0.5], [1.0])  # 1 of 2 normals called anomalous, both anomalies


def test_maps_have_a_colour_bar_on_the_runs_scale_and_zoom():
    values = np.linspace(0, 2, 64, dtype=np.float32).reshape(8, 8)
    spec = _spec(presentation.map_figure(values, 0.5, 1.5, "vae #1: 0.91", "error"))
    [heat] = spec["data"]
    assert heat["type"] == "heatmap" and (heat["zmin"], heat["zmax"]) == (0.5, 1.5)
    assert heat["colorbar"]["title"]["text"] == "error" and heat["colorbar"]["tickfont"]["size"] >= PX
    assert spec["layout"]["dragmode"] == "zoom" and spec["layout"]["yaxis"]["autorange"] == "reversed"
    picture = _spec(presentation.picture_figure(np.zeros((8, 8), np.uint8), "input"))
    assert picture["data"][0]["type"] == "image" and picture["layout"]["title"]["text"] == "input"
