"""Runs of one method and setting trained with several seeds, summarised as mean ± std (sample std)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import numpy as np
import pandas as pd

from dashboard.run_info import RunInfo, fmt

METRICS = {"image AUROC": "image_auroc", "pixel AUROC": "pixel_auroc", "PRO": "pro"}


def _mean_std(values: list[float]) -> str:
    if not values:
        return "-"
    spread = np.std(values, ddof=1) if len(values) > 1 else 0.0
    return f"{fmt(float(np.mean(values)))} ± {fmt(float(spread))}"


def seed_summary(runs: Sequence[RunInfo]) -> pd.DataFrame | None:
    """One row per (method, setting) that has runs with two or more seeds; None when no setting has."""
    groups: dict[tuple[str, str], list[RunInfo]] = defaultdict(list)
    for run in runs:
        groups[(run.method, run.variant)].append(run)
    rows = []
    for (method, _), members in groups.items():
        seeds = sorted({r.seed for r in members})
        if len(seeds) < 2:
            continue
        row = {
            "method": method,
            "preset": members[0].preset,
            "seeds": ", ".join(map(str, seeds)),
            "runs": len(members),
        }
        for column, attr in METRICS.items():
            row[column] = _mean_std([v for r in members if (v := getattr(r, attr)) is not None])
        rows.append(row)
    return pd.DataFrame(rows) if rows else None
