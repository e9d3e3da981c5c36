"""One recorded run: load its inputs (engine.run_inputs), open its record (engine.tracking), `compute` it
(engine.compute, no store I/O), then `record` the outcome in both stores.

The record is opened once the inputs are loaded and before the computation, so the run is seen RUNNING,
holds a lease and logs its losses epoch by epoch; any exception ends it FAILED in both stores."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from db.store import Store
from engine.compute import RunOutcome, compute
from engine.holder import Holder
from engine.run_inputs import RunStart, load_run_inputs
from engine.runconfig import Progress, RunConfig, RunEvents
from engine.tracking import RunTracker


def interval(metrics: dict[str, Any]) -> list[float] | None:
    """[low, high] of the image AUROC's 95% bootstrap interval, rounded; None when not recorded."""
    low, high = metrics.get("image_auroc_low"), metrics.get("image_auroc_high")
    return None if low is None or high is None else [round(low, 3), round(high, 3)]


@dataclass
class RunResult:
    run_id: int
    mlflow_run_id: str
    method: str
    dataset: str
    metrics: dict[str, Any]
    fit_seconds: float
    predict_seconds: float
    images_per_second: float
    peak_memory_mb: float
    device: str
    notes: list[str]

    def summary(self) -> dict[str, Any]:
        """The JSON line printed by `train --json`."""
        return {
            "run_id": self.run_id,
            "mlflow_run_id": self.mlflow_run_id,
            "method": self.method,
            "dataset": self.dataset,
            "image_auroc": self.metrics.get("image_auroc"),
            "image_auroc_95": interval(self.metrics),
            "pixel_auroc": self.metrics.get("pixel_auroc"),
            "pro": self.metrics.get("pro"),
            "average_precision": self.metrics.get("average_precision"),
            "n_test": self.metrics.get("n_test"),
            "fit_seconds": round(self.fit_seconds, 3),
            "predict_seconds": round(self.predict_seconds, 3),
            "images_per_second": round(self.images_per_second, 2),
            "peak_memory_mb": round(self.peak_memory_mb, 1),
            "device": self.device,
            "notes": self.notes,
        }


def open_record(
    config: RunConfig, start: RunStart, holder: Holder | None, store: Store | None, mlflow_uri: str | None
) -> RunTracker:
    """The record of a run whose inputs are loaded: entered, it is RUNNING in both stores, its lease held by
    `holder` (this process's own when None)."""
    return RunTracker(
        dataset=start.dataset,
        method=config.method,
        preset=config.preset,
        params=start.params,
        seed=config.seed,
        image_size=start.image_size,
        device=start.device,
        user=config.user,
        store=store,
        mlflow_uri=mlflow_uri,
        holder=holder,
    )


def record(outcome: RunOutcome, tracker: RunTracker) -> RunResult:
    """Write a finished outcome through its open record; the run is FINISHED in both stores after this."""
    tracker.finish(
        metrics=outcome.metrics,
        arrays=outcome.arrays,
        weights=outcome.weights,
        notes=outcome.notes,
        timings=outcome.timings,
        used=outcome.used,
        figures=outcome.figures,
    )
    t = outcome.timings
    return RunResult(
        run_id=tracker.run_id,
        mlflow_run_id=tracker.mlflow_run_id,
        method=outcome.config.method,
        dataset=outcome.start.dataset,
        metrics=outcome.metrics,
        fit_seconds=t["fit_seconds"],
        predict_seconds=t["predict_seconds"],
        images_per_second=t["images_per_second"],
        peak_memory_mb=t["peak_memory_mb"],
        device=outcome.start.device,
        notes=outcome.notes,
    )


def train_and_evaluate(
    config: RunConfig,
    progress: Callable[[Progress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    store: Store | None = None,
    mlflow_uri: str | None = None,
    holder: Holder | None = None,
) -> RunResult:
    """Fit `config.method` on `config.dataset`, evaluate on its test split and record the run: load its
    inputs, open its record, compute, record the outcome. `holder` holds the run's lease and defers a SIGTERM
    while the outcome is written (the worker's or the `train` command's; a holder of its own when None)."""
    holder = holder or Holder()
    report = progress or (lambda p: None)
    inputs = load_run_inputs(config, store, report)  # a bad config or dataset fails here, before any record
    with open_record(config, inputs.start, holder, store, mlflow_uri) as tracker:
        events = RunEvents(
            progress=lambda p: report(dataclasses.replace(p, run_id=tracker.run_id)),
            should_stop=lambda: holder.exit_if_asked() or bool(should_stop and should_stop()),
            on_epoch=tracker.log_epoch,
        )
        outcome = compute(config, inputs, events)
        report(Progress("save", 0.95, run_id=tracker.run_id))
        with holder.uninterrupted():  # both stores end FINISHED, or the exit fails the run
            result = record(outcome, tracker)
    report(Progress("done", 1.0, run_id=result.run_id))
    return result
