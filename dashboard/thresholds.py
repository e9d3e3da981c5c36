"""Thresholds on normalised scores and their confusion: the one computation that Compare, Inspect, the Review
page, its presentation and the HTML report count with. A threshold lives on a 0.001 grid, so the value shown
(3 decimals, also in the link) is the value counted; an image is called anomalous when its normalised score
reaches it (never raw scores, never `>`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from dashboard.run_info import RunInfo

DEFAULT_THRESHOLD = 0.5  # normalised score of the highest normal training score
THRESHOLD_DIGITS = 3  # set, shown and counted in steps of 0.001: defect rates of 0.02-0.25 need that grain


def snap_threshold(threshold: float) -> float:
    """`threshold` clipped to 0-1 on the 0.001 grid: the value every page, the URL and the report
    show (3 decimals) is the value they count with."""
    return round(min(max(float(threshold), 0.0), 1.0), THRESHOLD_DIGITS)


def threshold_text(threshold: float) -> str:
    """A threshold as the pages and the report write it, e.g. '0.018'."""
    return f"{snap_threshold(threshold):.{THRESHOLD_DIGITS}f}"


def at_threshold(label: str, threshold: float) -> str:
    """'vae #3 at 0.512': a run's matrix, ROC marker or slide title at a threshold, the same on every page."""
    return f"{label} at {threshold_text(threshold)}"


def default_threshold(run: RunInfo) -> float:
    """The normalised best-F1 threshold of a run rounded down to the grid (so the image that sets it stays
    called anomalous), else 0.5 (the highest normal training score)."""
    t = run.best_f1_threshold_normalized
    if t is None:
        return DEFAULT_THRESHOLD
    grid = 10**THRESHOLD_DIGITS
    return snap_threshold(np.floor(round(float(t) * grid, 6)) / grid)


def called_anomalous(scores_normalized: np.ndarray, threshold: float) -> np.ndarray:
    """Which images a threshold calls anomalous: normalised score >= the snapped threshold. The one rule of
    every page and the report (raw scores and `>` are never used for it)."""
    return np.asarray(scores_normalized, dtype=np.float64) >= snap_threshold(threshold)


@dataclass(frozen=True)
class Confusion:
    """Counts at one threshold; an image is called anomalous when its normalised score >= threshold."""

    threshold: float
    tp: int
    fp: int
    tn: int
    fn: int

    @property
    def precision(self) -> float | None:
        called = self.tp + self.fp
        return self.tp / called if called else None

    @property
    def recall(self) -> float | None:
        anomalous = self.tp + self.fn
        return self.tp / anomalous if anomalous else None

    @property
    def matrix(self) -> np.ndarray:
        """[[TN, FP], [FN, TP]]: rows true normal/anomalous, columns called normal/anomalous."""
        return np.array([[self.tn, self.fp], [self.fn, self.tp]])


def confusion_at(labels: np.ndarray, scores_normalized: np.ndarray, threshold: float) -> Confusion:
    """The confusion of a threshold on normalised scores (`called_anomalous`); Compare, Review, the
    presentation and the report all count with this function."""
    labels = np.asarray(labels).astype(bool)
    called = called_anomalous(scores_normalized, threshold)
    return Confusion(
        threshold=snap_threshold(threshold),
        tp=int((called & labels).sum()),
        fp=int((called & ~labels).sum()),
        tn=int((~called & ~labels).sum()),
        fn=int((~called & labels).sum()),
    )
