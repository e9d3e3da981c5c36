"""Which differences between runs the test set can tell apart: each run's image AUROC with its 95% bootstrap
interval, and its paired difference to the best run on the images both scored (engine.bootstrap)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from dashboard.results import RunInfo, ScoreTable
from engine.bootstrap import auroc_difference, auroc_interval

COLUMNS = ("run", "image AUROC", "95% interval", "vs best", "difference 95% interval", "verdict")
HELP = (
    "The test set is resampled 1,000 times (normal and anomalous images each drawn with replacement at their own "
    "count) and every run is scored on the same resamples. An interval that holds 0 means this test set cannot "
    "tell the run from the best one: more labelled test images would be needed to rank them."
)


def _span(low: float, high: float, signed: bool = False) -> str:
    spec = "+.3f" if signed else ".3f"
    return f"{low:{spec}} to {high:{spec}}"


def _aligned(best: ScoreTable, other: ScoreTable) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Labels and both runs' scores on the images both scored with the same label; None when they share none."""
    where = {name: i for i, name in enumerate(other.names)}
    pairs = [
        (i, where[name])
        for i, name in enumerate(best.names)
        if name in where and best.labels[i] == other.labels[where[name]]
    ]
    if not pairs:
        return None
    mine, theirs = (np.array(idx) for idx in zip(*pairs, strict=True))
    return best.labels[mine], best.scores[mine], other.scores[theirs]


def lead_table(runs: Sequence[RunInfo], tables: dict[int, ScoreTable]) -> pd.DataFrame | None:
    """One row per run, best image AUROC first; None when fewer than two runs have both classes scored."""
    intervals = {run.id: auroc_interval(tables[run.id].labels, tables[run.id].scores) for run in runs}
    scored = sorted((r for r in runs if intervals[r.id] is not None), key=lambda r: -intervals[r.id].estimate)
    if len(scored) < 2:
        return None
    best = scored[0]
    rows = []
    for run in scored:
        own = intervals[run.id]
        row = [run.label, round(own.estimate, 3), _span(own.low, own.high)]
        if run.id == best.id:
            rows.append([*row, "", "", "best"])
            continue
        shared = _aligned(tables[best.id], tables[run.id])
        diff = None if shared is None else auroc_difference(shared[0], shared[2], shared[1])
        if diff is None:
            rows.append([*row, "", "", "no shared test images with both labels"])
            continue
        verdict = "behind" if diff.high < 0 else "ahead" if diff.low > 0 else "within noise"
        n = len(shared[0])
        note = (
            "" if n == len(tables[run.id].labels) == len(tables[best.id].labels) else f" ({n} shared images)"
        )
        rows.append([*row, f"{diff.estimate:+.3f}", _span(diff.low, diff.high, signed=True), verdict + note])
    return pd.DataFrame(rows, columns=list(COLUMNS))
