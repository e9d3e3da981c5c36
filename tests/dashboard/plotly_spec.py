"""Reading Plotly figures back from an AppTest: specs by title, typed arrays ("bdata") decoded."""

from __future__ import annotations

import base64
import json
from typing import Any

import numpy as np


def figures_on(at: Any) -> dict[str, dict]:
    """The Plotly figures of a page run by their title text."""
    out = {}
    for chart in at.get("plotly_chart"):
        spec = json.loads(chart.proto.spec)
        out[spec["layout"]["title"]["text"]] = spec
    return out


def gallery_grid(at: Any) -> dict:
    """The spec of the gallery's thumbnail grid (the one Plotly chart whose key is a gallery grid key)."""
    charts = [c for c in at.get("plotly_chart") if "gallery_grid_" in c.proto.id]
    assert len(charts) == 1, "one thumbnail grid on the page"
    return json.loads(charts[0].proto.spec)


def array(value: Any) -> np.ndarray:
    """A trace field as an array, whether Plotly wrote it as a list or as a typed array."""
    if isinstance(value, dict) and "bdata" in value:
        data = np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"]))
        shape = value.get("shape")
        return data.reshape([int(s) for s in str(shape).split(",")]) if shape else data
    return np.asarray(value)
