"""Pure helpers of the results pages: run summaries, the leaderboard table, score tables, ranks, the images to
pick from (thresholds and their confusion are in thresholds.py)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from dashboard import thresholds
from engine.methods.components.weights import shown_origin

DEFAULT_THRESHOLD = 0.5  # normalised score of the highest normal training score
THRESHOLD_DIGITS = (
    3  # thresholds are set, shown and counted in steps of 0.001 (defect rates of 0.02-0.25 need it)
)
SOURCES = ("gallery", "false positives", "false negatives")


@dataclass(frozen=True)
class RunInfo:
    """One finished run as the pages show it (a detached copy of the store row plus its parsed metrics)."""

    id: int
    method: str
    preset: str
    dataset: str
    image_size: int
    status: str
    started_at: datetime | None
    image_auroc: float | None
    average_precision: float | None
    best_f1: float | None
    best_f1_threshold_normalized: float | None
    pixel_auroc: float | None
    pro: float | None
    fit_seconds: float | None
    images_per_second: float | None
    peak_memory_mb: float | None
    device: str | None
    roc_fpr: tuple[float, ...] = ()
    roc_tpr: tuple[float, ...] = ()
    auroc_per_defect_type: dict[str, float] = field(default_factory=dict)
    notes: str | None = None
    mlflow_run_id: str | None = None
    n_test: int | None = None  # images scored (None: recorded before the engine counted them)
    n_per_defect_type: dict[str, int] = field(default_factory=dict)
    label_set: str | None = None  # fingerprint of the (image, label, defect type) set it was scored on
    queued_by: str | None = None
    rescored_from: int | None = None  # the run whose predictions this one re-scored on newer labels
    seed: int = 0
    variant: str = ""  # the run's parameters other than the seed, so runs of one setting can be grouped
    detection_rate: float | None = None  # accuracy at the 95% quantile of the normal training scores

    @property
    def label(self) -> str:
        """Short name used in legends and headings, e.g. 'vae #12'."""
        return f"{self.method} #{self.id}"

    @property
    def description(self) -> str:
        """Longer name for pickers, e.g. 'vae #12 · smoke · AUROC 0.912 · 2026-11-24 07:01 · by ann'."""
        when = self.started_at.strftime("%Y-%m-%d %H:%M") if self.started_at else "?"
        by = f" · by {self.queued_by}" if self.queued_by else ""
        return f"{self.label} · {self.preset} · AUROC {fmt(self.image_auroc)} · {when}{by}"


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


def run_info(run: Any) -> RunInfo:
    """A `RunInfo` from a `db.models.Run` row."""
    metrics = json.loads(run.metrics_json or "{}")
    roc = metrics.get("roc") or {}
    return RunInfo(
        id=run.id,
        method=run.method,
        preset=run.preset,
        dataset=run.dataset_name,
        image_size=run.image_size,
        status=run.status,
        started_at=run.started_at,
        image_auroc=run.image_auroc if run.image_auroc is not None else metrics.get("image_auroc"),
        average_precision=metrics.get("average_precision"),
        best_f1=metrics.get("best_f1"),
        best_f1_threshold_normalized=metrics.get("best_f1_threshold_normalized"),
        detection_rate=metrics.get("detection_rate"),
        pixel_auroc=run.pixel_auroc if run.pixel_auroc is not None else metrics.get("pixel_auroc"),
        pro=metrics.get("pro"),
        fit_seconds=run.fit_seconds,
        images_per_second=run.images_per_second,
        peak_memory_mb=run.peak_memory_mb,
        device=run.device,
        roc_fpr=tuple(float(v) for v in roc.get("fpr", ())),
        roc_tpr=tuple(float(v) for v in roc.get("tpr", ())),
        auroc_per_defect_type={
            str(k): float(v) for k, v in (metrics.get("auroc_per_defect_type") or {}).items()
        },
        notes=shown_origin(run.notes) if run.notes else run.notes,  # wheels by name, never server paths
        mlflow_run_id=run.mlflow_run_id,
        n_test=metrics.get("n_test"),
        n_per_defect_type={str(k): int(v) for k, v in (metrics.get("n_per_defect_type") or {}).items()},
        label_set=metrics.get("label_set"),
        queued_by=getattr(run, "queued_by", None),
        rescored_from=metrics.get("rescored_from"),
        seed=int(getattr(run, "seed", 0) or 0),
        variant=f"{run.preset} {run.image_size}px {getattr(run, 'params_json', None) or '{}'}",
    )


def fmt(value: float | None, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def latest_per_method(runs: Sequence[RunInfo]) -> list[RunInfo]:
    """The newest run (highest id) of each method, ordered by method name."""
    latest: dict[str, RunInfo] = {}
    for run in runs:
        if run.method not in latest or run.id > latest[run.method].id:
            latest[run.method] = run
    return [latest[m] for m in sorted(latest)]


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


def test_set_warning(runs: Sequence[RunInfo], current: str | None) -> str | None:
    """A sentence when `runs` were scored on different test sets, or on labels that changed since (`current`
    is the fingerprint of today's labels, None for a built-in set); None when they all compare."""
    sets = {run.label_set for run in runs if run.label_set}
    unknown = [run.label for run in runs if not run.label_set]
    parts = []
    if len(sets) > 1:
        sizes = sorted({run.n_test for run in runs if run.n_test is not None})
        parts.append(
            f"These runs were scored on {len(sets)} different test sets ({', '.join(map(str, sizes))} images), "
            "so their curves and figures do not compare as they stand."
        )
    stale = stale_runs(runs, current)
    if stale:
        parts.append(f"{', '.join(r.label for r in stale)} were scored before the labels last changed.")
    if unknown and sets:
        parts.append(f"{', '.join(unknown)} did not record its test set.")
    return " ".join(parts) or None


def stale_runs(runs: Sequence[RunInfo], current: str | None) -> list[RunInfo]:
    """The runs scored on other labels than today's (re-scoring puts them on today's)."""
    return [run for run in runs if current and run.label_set and run.label_set != current]


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


@dataclass(frozen=True)
class ImageViews:
    """What a run's predictions artifact holds for one test image."""

    anomaly_map: np.ndarray  # (H, W)
    reconstruction: np.ndarray | None  # (H, W) or (H, W, 3) uint8
    attention: np.ndarray | None  # (H, W)
    mask: np.ndarray | None  # (H, W) {0, 1}
