"""Plotly figures of the results pages, built by pure functions from run summaries and arrays (the embedding
maps are in embedding_figures.py)."""

from __future__ import annotations

import html
import zlib
from collections.abc import Mapping, Sequence

import plotly.graph_objects as go
from plotly.colors import qualitative

from dashboard.evidence import MIN_IMAGES, weak_defect_type
from dashboard.pictures import HEAT_COLOURS, data_url
from dashboard.plot_template import WHITE
from dashboard.run_info import RunInfo, fmt
from dashboard.thresholds import Confusion, at_threshold, threshold_text

PALETTE = qualitative.Plotly + qualitative.Dark2 + qualitative.Set1
DEFECT_PALETTE = [
    c for c in qualitative.Bold if c != "rgb(57, 105, 172)"
]  # its blue is too close to normal's
NORMAL_COLOUR = "#3b6fb6"


def run_colour(run_id: int) -> str:
    """The colour of a run on every page and in the report, whatever else is chosen with it (ids that differ
    by a multiple of len(PALETTE), 27, share one)."""
    return PALETTE[run_id % len(PALETTE)]


def defect_colour(defect_type: str) -> str:
    """The colour of a defect type in every panel (normal images: NORMAL_COLOUR), from a hash of its name."""
    if defect_type in ("good", "normal"):
        return NORMAL_COLOUR
    return DEFECT_PALETTE[zlib.crc32(defect_type.encode()) % len(DEFECT_PALETTE)]


def run_colours(runs: Sequence[RunInfo]) -> dict[int, str]:
    return {run.id: run_colour(run.id) for run in runs}


def _layout(fig: go.Figure, title: str, height: int = 420) -> go.Figure:
    fig.update_layout(title=title, height=height, margin={"l": 50, "r": 20, "t": 50, "b": 45}, template=WHITE)
    return fig


def roc_figure(runs: Sequence[RunInfo]) -> go.Figure:
    """ROC curves of all runs on one figure; the legend says method, run id and AUROC."""
    colours = run_colours(runs)
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=[0, 1],
            y=[0, 1],
            mode="lines",
            line={"dash": "dot", "color": "#999"},
            name="chance",
            hoverinfo="skip",
        )
    )
    for run in runs:
        if not run.roc_fpr:
            continue
        fig.add_trace(
            go.Scatter(
                x=list(run.roc_fpr),
                y=list(run.roc_tpr),
                mode="lines",
                line={"color": colours[run.id], "width": 2, "shape": "hv"},
                name=f"{run.label} (AUROC {fmt(run.image_auroc)})",
                hovertemplate="FPR %{x:.3f}<br>TPR %{y:.3f}<extra>" + run.label + "</extra>",
            )
        )
    fig.update_xaxes(title="false positive rate", range=[0, 1], constrain="domain")
    fig.update_yaxes(title="true positive rate", range=[0, 1.02], scaleanchor="x", scaleratio=1)
    fig.update_layout(legend={"x": 0.98, "y": 0.02, "xanchor": "right", "yanchor": "bottom"})
    return _layout(fig, "ROC curves (image level)", height=460)


def roc_point(confusion: Confusion) -> tuple[float, float] | None:
    """(false positive rate, true positive rate) at the confusion's threshold; None without both classes."""
    normals, anomalies = confusion.tn + confusion.fp, confusion.tp + confusion.fn
    if not normals or not anomalies:
        return None
    return confusion.fp / normals, confusion.tp / anomalies


def add_threshold_markers(
    fig: go.Figure, runs: Sequence[RunInfo], confusions: Mapping[int, Confusion]
) -> go.Figure:
    """`fig` (a `roc_figure`) with each run's chosen threshold as a dot on its curve, in the run's colour."""
    for run in runs:
        confusion = confusions.get(run.id)
        point = roc_point(confusion) if confusion is not None else None
        if point is None:
            continue
        fig.add_trace(
            go.Scatter(
                x=[point[0]],
                y=[point[1]],
                mode="markers",
                marker={"color": run_colour(run.id), "size": 13, "line": {"width": 2, "color": "white"}},
                name=at_threshold(run.label, confusion.threshold),
                hovertemplate=f"threshold {threshold_text(confusion.threshold)}: {confusion.fp} false positive(s), "
                f"{confusion.fn} false negative(s)<br>FPR %{{x:.3f}}, TPR %{{y:.3f}}<extra>{run.label}</extra>",
            )
        )
    return fig


def _type_counts(runs: Sequence[RunInfo], defect_type: str) -> str:
    """'3 images' (or '3-5 images' when the runs were scored on different sets) of a defect type."""
    counts = sorted(
        {run.n_per_defect_type[defect_type] for run in runs if defect_type in run.n_per_defect_type}
    )
    if not counts:
        return ""
    n = str(counts[0]) if len(counts) == 1 else f"{counts[0]}-{counts[-1]}"
    return f"{n} image{'' if n == '1' else 's'}"


def defect_auroc_figure(runs: Sequence[RunInfo]) -> go.Figure:
    """Grouped bars: AUROC of each defect type against the normal test images, one bar group per type, each
    type named with its image count; a bar resting on fewer than MIN_IMAGES images is pale, and labels that
    would not fit their bar are left out rather than overlap."""
    colours = run_colours(runs)
    types = sorted({t for run in runs for t in run.auroc_per_defect_type})
    # Plotly reads tags in text, and people type the defect types
    shown = [
        f"{html.escape(t)}<br>({_type_counts(runs, t)})" if _type_counts(runs, t) else html.escape(t)
        for t in types
    ]
    fig = go.Figure()
    for run in runs:
        values = [run.auroc_per_defect_type.get(t) for t in types]
        weak = [weak_defect_type(run, t) for t in types]
        fig.add_trace(
            go.Bar(
                x=shown,
                y=values,
                name=run.label,
                marker={"color": colours[run.id], "opacity": [0.3 if w else 1.0 for w in weak]},
                text=[fmt(v, 2) for v in values],
                textposition="outside",
                customdata=[
                    [run.n_per_defect_type.get(t, "?"), " (too few to rank)" if w else ""]
                    for t, w in zip(types, weak, strict=True)
                ],
                hovertemplate="%{x}, %{customdata[0]} images%{customdata[1]}: AUROC %{y:.3f}<extra>"
                + run.label
                + "</extra>",
            )
        )
    fig.update_layout(barmode="group", uniformtext={"minsize": 10, "mode": "hide"})
    fig.update_yaxes(title="AUROC", range=[0, 1.12])
    fig.update_xaxes(title=f"defect type (pale: fewer than {MIN_IMAGES} images)")
    return _layout(fig, "AUROC per defect type")


def confusion_figure(confusion: Confusion, title: str) -> go.Figure:
    """2x2 confusion matrix at one threshold (rows: truth, columns: call)."""
    matrix = confusion.matrix
    names = ["TN", "FP", "FN", "TP"]
    text = [[f"{names[2 * r + c]}<br>{matrix[r, c]}" for c in range(2)] for r in range(2)]
    fig = go.Figure(
        go.Heatmap(
            z=matrix.tolist(),
            x=["called normal", "called anomalous"],
            y=["normal", "anomalous"],
            text=text,
            texttemplate="%{text}",
            textfont={"size": 16},
            colorscale="Blues",
            showscale=False,
            hovertemplate="truth %{y}, %{x}: %{z}<extra></extra>",
        )
    )
    fig.update_yaxes(autorange="reversed", title="truth")
    return _layout(fig, at_threshold(title, confusion.threshold), height=260)


ZOOM_FIGURE_PX = 560  # height of a zoomable picture on the page; its width follows the column


def zoom_figure(
    png: bytes, width: int, height: int, title: str, scale: tuple[float, float] | None = None
) -> go.Figure:
    """A picture (PNG of `width` x `height` px) as a figure at its own resolution and aspect ratio: drag a box or
    scroll to zoom, the pan tool (or Shift + drag) to pan, double-click to reset; with `scale` (lo, hi) the heat
    colours' colour bar beside it (as `pictures.heat` paints a map)."""
    fig = go.Figure(go.Image(source=data_url(png), hovertemplate="x %{x}, y %{y}<extra></extra>"))
    if scale is not None:  # an invisible cell that carries the colour bar
        fig.add_trace(
            go.Heatmap(
                z=[[scale[0], scale[1]]],
                zmin=scale[0],
                zmax=scale[1],
                colorscale=HEAT_COLOURS,
                opacity=0.0,
                hoverinfo="skip",
                colorbar={"thickness": 12, "len": 0.9, "nticks": 4},
            )
        )
    fig.update_xaxes(visible=False, range=[-0.5, width - 0.5], constrain="domain")
    fig.update_yaxes(visible=False, range=[height - 0.5, -0.5], scaleanchor="x", constrain="domain")
    fig.update_layout(
        title={"text": title, "font": {"size": 14}},
        height=ZOOM_FIGURE_PX,
        margin={"l": 4, "r": 4, "t": 36, "b": 4},
        dragmode="zoom",
        template=WHITE,
    )
    return fig
