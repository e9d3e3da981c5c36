"""One recorded run: `compute` it (engine.compute, no store I/O), then `record` the outcome in both stores.

`train_and_evaluate` opens the record as soon as the dataset is loaded (so the run is seen RUNNING, holds a
lease, and logs its losses epoch by epoch); any exception ends it FAILED in both stores."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

from db.store import Store
from engine.compute import RunOutcome, RunStart, compute
from engine.recovery import uninterrupted
from engine.runconfig import Progress, RunConfig
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
    config: RunConfig, start: RunStart, store: Store | None, mlflow_uri: str | None
) -> RunTracker:
    """A RUNNING run in both stores for a computation that has just loaded its dataset."""
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
) -> RunResult:
    """Fit `config.method` on `config.dataset`, evaluate on its test split and record the run."""
    report = progress or (lambda p: None)
    with ExitStack() as stack:
        tracker: RunTracker | None = None

        def on_start(start: RunStart) -> None:
            nonlocal tracker
            with uninterrupted():  # a SIGTERM now is raised once the tracker can fail the run
                tracker = stack.enter_context(open_record(config, start, store, mlflow_uri))

        def with_run_id(p: Progress) -> None:
            report(dataclasses.replace(p, run_id=tracker and tracker.run_id))

        outcome = compute(
            config,
            progress=with_run_id,
            should_stop=should_stop,
            on_start=on_start,
            on_epoch=lambda epoch, losses: tracker.log_epoch(epoch, losses),
            store=store,
        )
        report(Progress("save", 0.95, run_id=tracker.run_id))
        with uninterrupted():  # both stores end FINISHED, or the exit fails the run
            result = record(outcome, tracker)
    report(Progress("done", 1.0, run_id=result.run_id))
    return result
