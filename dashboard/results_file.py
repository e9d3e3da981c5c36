"""A run's results file (its predictions artifact) as the pages read it: what it holds for one test image
(`ImageViews`), the error when it cannot be read, and the one sentence a page shows then."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from dashboard.run_info import RunInfo


class ResultsFileError(Exception):
    """A run's results file (maps, embeddings) could not be read: gone from the artifact store or damaged."""

    def __init__(self, run_id: int) -> None:
        super().__init__(f"the results file of run #{run_id} is missing or damaged")
        self.run_id = run_id


def unreadable(run: RunInfo) -> str:
    """The one sentence a page shows for a run whose results file cannot be read."""
    return (
        f"{run.label}: its results file is missing or damaged, so its maps and embeddings cannot be shown "
        "(its scores and curves can); re-run it to get them back."
    )


@dataclass(frozen=True)
class ImageViews:
    """What a run's predictions artifact holds for one test image."""

    anomaly_map: np.ndarray  # (H, W)
    reconstruction: np.ndarray | None  # (H, W) or (H, W, 3) uint8
    attention: np.ndarray | None  # (H, W)
    mask: np.ndarray | None  # (H, W) {0, 1}
