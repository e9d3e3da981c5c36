"""The leaderboard: one row per run with its figures, the columns' digits and tooltips, shared by the pages and
the report."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

from dashboard.run_info import RunInfo

LEADERBOARD_COLUMNS = (
    "run",
    "method",
    "preset",
    "n",
    "image AUROC",
    "AP",
    "best F1",
    "detection rate",
    "pixel AUROC",
    "PRO",
    "masks",
    "fit s",
    "images/s",
    "peak MiB",
    "device",
    "test images",
    "queued by",
)
LEADERBOARD_DIGITS = {  # decimals shown for the number columns, on the pages and in the report
    "image AUROC": 3,
    "AP": 3,
    "best F1": 3,
    "detection rate": 3,
    "pixel AUROC": 3,
    "PRO": 3,
    "fit s": 1,
    "images/s": 1,
    "peak MiB": 0,
}
LEADERBOARD_HELP = {  # column tooltips on the pages
    "detection rate": "Share of test images decided right when an image is called anomalous above the 95% "
    "quantile of the normal training scores: a threshold set without any test label (seed 000's measure)",
    "masks": "Test images with a drawn defect mask: what pixel AUROC and PRO rest on",
}


def test_images(run: RunInfo) -> str:
    """Images scored per defect type, e.g. 'good 6, dark-spot 2' ('' when the run did not record them)."""
    return ", ".join(f"{name} {n}" for name, n in sorted(run.n_per_defect_type.items()))


def leaderboard(
    runs: Sequence[RunInfo],
    sort: bool = False,
    masks: Mapping[int, int | None] | None = None,
    champion: int | None = None,
) -> pd.DataFrame:
    """One row per run with its figures and the drawn masks its pixel figures rest on (`masks`, by run id);
    `sort` orders by image AUROC, best first (runs without one last); with `champion` (a run id), a column
    'champion' marks that run."""
    masks = masks or {}
    rows = [
        (
            run.label,
            run.method,
            run.preset,
            run.n_test,
            run.image_auroc,
            run.average_precision,
            run.best_f1,
            run.detection_rate,
            run.pixel_auroc,
            run.pro,
            masks.get(run.id),
            run.fit_seconds,
            run.images_per_second,
            run.peak_memory_mb,
            run.device,
            test_images(run),
            run.queued_by or "",
        )
        for run in runs
    ]
    table = pd.DataFrame(rows, columns=list(LEADERBOARD_COLUMNS)).astype({"n": "Int64", "masks": "Int64"})
    if champion is not None:
        table.insert(1, "champion", ["champion" if run.id == champion else "" for run in runs])
    if sort:
        table = table.sort_values("image AUROC", ascending=False, na_position="last", kind="stable")
    return table.reset_index(drop=True)
