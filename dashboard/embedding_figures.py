"""The t-SNE / PCA map of a run's embeddings as a Plotly figure, with a ring on the image selected in any run's
map (linked selection: the same image is ringed in every map)."""

from __future__ import annotations

import html

import numpy as np
import plotly.graph_objects as go

from dashboard.figures import NORMAL_COLOUR, _layout, defect_colour
from dashboard.projection import EmbeddingMap

ANOMALY_COLOUR = "#d1495b"
TRAIN_COLOUR = "#b8b8b8"
RING_COLOUR = "#111111"
COLOUR_BY = ("label", "defect type")
SELECTED = "selected image"  # the name of the ring's trace


def _label_groups(emap: EmbeddingMap, colour_by: str) -> list[tuple[str, np.ndarray, str]]:
    if colour_by not in COLOUR_BY:
        raise ValueError(f"unknown colouring {colour_by!r}; choose from {list(COLOUR_BY)}")
    labels = np.asarray(emap.labels)
    if colour_by == "label":
        return [
            ("normal", labels == 0, NORMAL_COLOUR),
            ("anomalous", labels == 1, ANOMALY_COLOUR),
        ]
    types = np.asarray(emap.defect_types)
    defects = sorted({t for t, lab in zip(emap.defect_types, labels, strict=True) if lab == 1})
    groups = [("good", labels == 0, NORMAL_COLOUR)]
    groups += [(t, (types == t) & (labels == 1), defect_colour(t)) for t in defects]
    return groups


def _ring(emap: EmbeddingMap, selected: str) -> go.Scatter | None:
    """An open circle around the test point of image `selected` (None when the map has no such point)."""
    if selected not in emap.names:
        return None
    x, y = emap.test[emap.names.index(selected)]
    return go.Scatter(
        x=[x],
        y=[y],
        mode="markers",
        marker={"symbol": "circle-open", "size": 20, "color": RING_COLOUR, "line": {"width": 3}},
        name=SELECTED,
        showlegend=False,
        hoverinfo="skip",  # a click there reaches the point under the ring
    )


def embedding_figure(
    emap: EmbeddingMap, colour_by: str = "label", title: str = "", selected: str | None = None
) -> go.Figure:
    """Scatter of the 2-D map: test points coloured by label or defect type, normal training sample in grey,
    the normal training centroid as a star, a ring around image `selected`. Each test point carries
    [name, label text, normalised score (as on Compare)] as customdata (the label text with its tags escaped:
    Plotly reads them)."""
    fig = go.Figure()
    if len(emap.train):
        fig.add_trace(
            go.Scatter(
                x=emap.train[:, 0],
                y=emap.train[:, 1],
                mode="markers",
                marker={"color": TRAIN_COLOUR, "size": 4},
                name="train (normal)",
                hoverinfo="skip",
            )
        )
    for name, keep, colour in _label_groups(emap, colour_by):
        idx = np.flatnonzero(keep)
        if not len(idx):
            continue
        custom = [[emap.names[i], html.escape(name), float(emap.scores[i])] for i in idx]
        fig.add_trace(
            go.Scatter(
                x=emap.test[idx, 0],
                y=emap.test[idx, 1],
                mode="markers",
                marker={"color": colour, "size": 7, "line": {"width": 0.5, "color": "white"}},
                name=f"{html.escape(name)} ({len(idx)})",
                customdata=custom,
                hovertemplate="<b>%{customdata[0]}</b><br>%{customdata[1]}<br>normalised score %{customdata[2]:.3f}"
                "<br><i>click: its image beside the maps</i><extra></extra>",
            )
        )
    if emap.centroid is not None:
        fig.add_trace(
            go.Scatter(
                x=[emap.centroid[0]],
                y=[emap.centroid[1]],
                mode="markers",
                marker={
                    "symbol": "star",
                    "size": 18,
                    "color": "black",
                    "line": {"width": 1, "color": "white"},
                },
                name="normal centroid",
                hovertemplate="centroid of the normal training embeddings<extra></extra>",
            )
        )
    ring = _ring(emap, selected) if selected else None
    if ring is not None:
        fig.add_trace(ring)
    fig.update_xaxes(showticklabels=False, title=None)
    fig.update_yaxes(showticklabels=False, title=None)
    fig.update_layout(legend={"orientation": "h", "y": -0.05}, clickmode="event+select")
    return _layout(fig, f"{title} ({emap.method})" if title else emap.method, height=460)
