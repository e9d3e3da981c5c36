"""The look of every Plotly figure on the pages: Plotly's "plotly_white", cut to what they draw (2-D axes; scatter,
bar and heatmap traces; images and annotations). Naming the whole template on a figure copies and validates the
defaults of every trace type Plotly has, on every figure (a large part of a cached Compare run on the server);
this one is a fraction of that work and draws the same."""

from __future__ import annotations

import plotly.graph_objects as go
import plotly.io as pio

TRACES = ("scatter", "bar", "heatmap")  # the trace types the pages draw (go.Image takes no template defaults)
UNUSED_LAYOUT = ("polar", "ternary", "scene", "geo")  # kinds of axes no page draws


def _white() -> go.layout.Template:
    full = pio.templates["plotly_white"]
    layout = {k: v for k, v in full.layout.to_plotly_json().items() if k not in UNUSED_LAYOUT}
    return go.layout.Template(layout=layout, data={name: full.data[name] for name in TRACES})


WHITE = _white()
