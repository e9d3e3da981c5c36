"""Which differences between runs the test set can tell apart: each run's image AUROC with its 95% bootstrap
interval, and its paired difference to the best run on the images both scored (engine.bootstrap)."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from dashboard.run_info import RunInfo
from dashboard.score_table import ScoreTable
from engine.bootstrap import auroc_difference, auroc_interval, shared_images, span

COLUMNS = ("run", "image AUROC", "95% interval", "vs best", "difference 95% interval", "verdict")
HELP = (
    "The test set is resampled 1,000 times (normal and anomalous images each drawn with replacement at their own "
    "count) and every run is scored on the same resamples. An interval that holds 0 means this test set cannot "
    "tell the run from the best one: more labelled test images would be needed to rank them."
)


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
        row = [run.label, round(own.estimate, 3), span(own.low, own.high)]
        if run.id == best.id:
            rows.append([*row, "", "", "best"])
            continue
        best_t, run_t = tables[best.id], tables[run.id]
        shared = shared_images(
            (best_t.names, best_t.labels, best_t.scores), (run_t.names, run_t.labels, run_t.scores)
        )
        diff = None if shared is None else auroc_difference(shared[0], shared[2], shared[1])
        if diff is None:
            rows.append([*row, "", "", "no shared test images with both labels"])
            continue
        verdict = "behind" if diff.high < 0 else "ahead" if diff.low > 0 else "within noise"
        n = len(shared[0])
        note = "" if n == len(run_t.labels) == len(best_t.labels) else f" ({n} shared images)"
        rows.append([*row, f"{diff.estimate:+.3f}", span(diff.low, diff.high, signed=True), verdict + note])
    return pd.DataFrame(rows, columns=list(COLUMNS))
