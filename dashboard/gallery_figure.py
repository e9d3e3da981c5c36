"""The gallery as one Plotly figure: a grid of thumbnails that a click selects (Streamlit has no clickable
image; a Plotly point under each thumbnail carries its name back through `st.plotly_chart(on_select=...)`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import plotly.graph_objects as go

from dashboard.pictures import data_url
from dashboard.plot_template import WHITE

COLUMNS = 6
ROW_PITCH = 1.3  # a row is one thumbnail (1 unit) plus its caption
ROW_PX = 205  # figure height per row, about what 6 square tiles across a wide page need
CLICK_PX = 90  # the invisible marker under each thumbnail: where a click lands on it
CURRENT_COLOUR = "#ff4b4b"  # the ring around the image that is open


class Tile(NamedTuple):
    name: str
    png: bytes | None  # None: no picture available
    caption: str  # under the thumbnail, e.g. '#3 · 0.91'
    hover: str  # e.g. 'test/crack/001.png<br>anomalous (crack)'


def _centre(i: int, columns: int) -> tuple[float, float]:
    return float(i % columns), -(i // columns) * ROW_PITCH


def grid_figure(tiles: Sequence[Tile], current: str | None = None, columns: int = COLUMNS) -> go.Figure:
    """Thumbnails in rows of `columns`, a caption under each and a ring around `current`; the one scatter
    trace has a point per tile with its name as customdata[0], so a click selects that image."""
    if columns < 1:
        raise ValueError(f"columns must be at least 1; got {columns}")
    centres = [_centre(i, columns) for i in range(len(tiles))]
    fig = go.Figure(
        go.Scatter(
            x=[c[0] for c in centres],
            y=[c[1] for c in centres],
            mode="markers",
            marker={"symbol": "square", "size": CLICK_PX, "opacity": 0.01, "color": "#888"},
            selected={"marker": {"opacity": 0.01}},
            unselected={"marker": {"opacity": 0.01}},
            customdata=[[t.name] for t in tiles],
            hovertemplate=[f"{t.hover}<extra></extra>" for t in tiles],
            name="images",
        )
    )
    # Collected and set once: adding them one by one re-validates every earlier one (quadratic in the tiles)
    images, notes, rings = [], [], []
    for tile, (x, y) in zip(tiles, centres, strict=True):
        if tile.png is not None:
            images.append(
                {
                    "source": data_url(tile.png),
                    "x": x,
                    "y": y,
                    "xref": "x",
                    "yref": "y",
                    "sizex": 0.94,
                    "sizey": 0.94,
                    "xanchor": "center",
                    "yanchor": "middle",
                    "layer": "below",
                }
            )
        else:
            notes.append(
                {"x": x, "y": y, "text": "no picture", "showarrow": False, "font": {"color": "#888"}}
            )
        notes.append(
            {
                "x": x,
                "y": y - 0.5,
                "text": tile.caption,
                "showarrow": False,
                "yanchor": "top",
                "font": {"size": 13},
            }
        )
        if tile.name == current:
            rings.append(
                {
                    "type": "rect",
                    "x0": x - 0.5,
                    "x1": x + 0.5,
                    "y0": y - 0.5,
                    "y1": y + 0.5,
                    "line": {"color": CURRENT_COLOUR, "width": 3},
                }
            )
    rows = max(1, -(-len(tiles) // columns))
    fig.update_xaxes(visible=False, range=[-0.5, columns - 0.5], fixedrange=True)
    fig.update_yaxes(
        visible=False,
        range=[-(rows - 1) * ROW_PITCH - 0.8, 0.52],
        scaleanchor="x",
        constrain="domain",
        fixedrange=True,
    )
    fig.update_layout(
        height=rows * ROW_PX + 10,
        margin={"l": 0, "r": 0, "t": 0, "b": 0},
        showlegend=False,
        clickmode="event+select",
        dragmode=False,
        template=WHITE,
        hovermode="closest",
        images=images,
        annotations=notes,
        shapes=rings,
    )
    return fig


def clicked_name(selection: object) -> str | None:
    """The image name of the point a Plotly chart's selection state holds (None when nothing is selected)."""
    points = ((selection or {}).get("selection") or {}).get("points") or []  # type: ignore[union-attr]
    for point in points:
        custom = point.get("customdata")
        if custom:
            return str(custom[0])
    return None
