"""A finished run as the results pages show it (`RunInfo`, a detached copy of its store row with its parsed metrics),
how its figures are written, and whether runs compare (the test sets they were scored on)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from db.store import to_json
from engine.methods.components.weights import shown_origin


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


def run_info(run: Any) -> RunInfo:
    """A `RunInfo` from a `db.models.Run` row."""
    metrics = run.metrics or {}
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
        variant=f"{run.preset} {run.image_size}px {to_json(getattr(run, 'params', None) or {})}",
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
