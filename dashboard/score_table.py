"""One run's per-image scores on its test split (`ScoreTable`), their ranks, and the images to pick from (all, the
false positives or the false negatives at a threshold)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from dashboard import thresholds

SOURCES = ("gallery", "false positives", "false negatives")


@dataclass(frozen=True)
class ScoreTable:
    """Per-image results of one run on its test split."""

    names: tuple[str, ...]
    labels: np.ndarray  # (N,) 0 normal / 1 anomalous
    defect_types: tuple[str, ...]
    scores: np.ndarray  # (N,) raw, higher = more anomalous
    scores_normalized: np.ndarray  # (N,) 0..1, 0.5 = highest normal training score

    def index(self, name: str) -> int | None:
        try:
            return self.names.index(name)
        except ValueError:
            return None


def score_table(rows: Sequence[Any]) -> ScoreTable:
    """A `ScoreTable` from `db.runs.PredictionRow`s."""
    return ScoreTable(
        names=tuple(r.image_name for r in rows),
        labels=np.array([int(r.label) for r in rows], dtype=np.int64),
        defect_types=tuple(r.defect_type for r in rows),
        scores=np.array([float(r.score) for r in rows], dtype=np.float64),
        scores_normalized=np.array([float(r.score_normalized) for r in rows], dtype=np.float64),
    )


def ranks(scores: np.ndarray) -> np.ndarray:
    """Rank of each score, 1 = the most anomalous (ties share the better rank)."""
    scores = np.asarray(scores, dtype=np.float64)
    ordered = np.sort(scores)[::-1]
    return np.searchsorted(-ordered, -scores, side="left") + 1


def candidates(table: ScoreTable, source: str, threshold: float) -> list[str]:
    """Image names to pick from: all by score (most anomalous first), or the false positives (highest
    normalised score first) or false negatives (lowest first) at `threshold`."""
    if source not in SOURCES:
        raise ValueError(f"unknown image source {source!r}; choose from {list(SOURCES)}")
    order = np.argsort(-table.scores, kind="stable")
    if source == "gallery":
        return [table.names[i] for i in order]
    called = thresholds.called_anomalous(table.scores_normalized, threshold)
    if source == "false positives":
        keep = called & (table.labels == 0)
        return [table.names[i] for i in order if keep[i]]
    keep = ~called & (table.labels == 1)
    return [table.names[i] for i in order[::-1] if keep[i]]
