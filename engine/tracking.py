"""The one place that records a run: MLflow (params, losses, metrics, artifacts) and the results store.

The per-image arrays and reading them back live in engine.artifacts."""

from __future__ import annotations

import json
import re
import tempfile
import time
import traceback
from contextlib import ExitStack, suppress
from pathlib import Path
from typing import Any

import torch

from db import locations
from db import runs as db_runs
from db.schema import StoreError, StoreUnreachable
from db.store import Store
from engine import mlflow_store, recovery
from engine.artifacts import PREDICTIONS_FILE, RunArrays
from engine.mlflow_store import TrackingServerDown

WEIGHTS_FILE = "weights.pt"


def mlflow_client(uri: str | None = None):
    """An explicit MlflowClient on a ready store (never the process-global fluent API)."""
    return mlflow_store.client(uri)


def experiment_id(client: Any, dataset: str) -> str:
    """The MLflow experiment of a dataset. On a local SQLite store its artifacts go under `mlruns/artifacts`;
    a tracking server chooses their place itself (e.g. its proxied artifact store)."""
    name = f"workbench/{dataset}"
    found = client.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    location = None
    if client.tracking_uri.startswith("sqlite:"):
        folder = Path(locations.mlflow_artifact_root()) / re.sub(r"[^A-Za-z0-9_.-]+", "_", dataset)
        folder.mkdir(parents=True, exist_ok=True)
        location = folder.as_uri()
    try:
        return client.create_experiment(name, artifact_location=location)
    except Exception:  # another process created it first
        found = client.get_experiment_by_name(name)
        if found is None:
            raise
        return found.experiment_id


def run_name(run_id: int, method: str, dataset: str) -> str:
    """The name of a run in MLflow, with the number the dashboard shows: '#12 padim on elpv'."""
    return f"#{run_id} {method} on {dataset}"


def _flat_params(params: dict[str, Any]) -> dict[str, str]:
    return {k: str(v)[:500] for k, v in params.items()}


class RunTracker:
    """Records one run in both stores; as a context manager an exception ends the run FAILED in both."""

    def __init__(
        self,
        *,
        dataset: str,
        method: str,
        preset: str,
        params: dict[str, Any],
        seed: int,
        image_size: int,
        device: str,
        user: str = "",
        store: Store | None = None,
        mlflow_uri: str | None = None,
    ) -> None:
        self.dataset, self.method = dataset, method
        self.store = store or Store.at()  # fixed now: the lease thread must not follow the env
        self.client = mlflow_client(mlflow_uri)
        exp = experiment_id(self.client, dataset)
        self.method_params = dict(params)
        self.params = {
            **params,
            "method": method,
            "dataset": dataset,
            "preset": preset,
            "seed": seed,
            "image_size": image_size,
            "device": device,
        }
        tags = {"workbench.method": method, "workbench.dataset": dataset, "workbench.preset": preset}
        if user:
            tags["workbench.user"] = user
            tags["mlflow.user"] = user  # MLflow's "Created by"
        mlrun = self.client.create_run(exp, run_name=f"{method} on {dataset}", tags=tags)
        self.mlflow_run_id: str = mlrun.info.run_id
        self.artifact_uri: str = mlrun.info.artifact_uri
        self._lease = ExitStack()  # renews the run's lease until it ends, so a killed process is noticed
        self.finished = False
        self.run_id: int | None = None
        try:
            self._open(dataset, method, preset, params, seed, image_size, device, user)
        except BaseException as exc:  # nothing may stay RUNNING because opening the record broke
            recorded = self._abandon_partial(exc)
            if isinstance(exc, TrackingServerDown) and self.run_id is not None:
                raise TrackingServerDown(f"run #{self.run_id} ended FAILED: {recorded}", exc.uri) from exc
            raise

    def _open(
        self,
        dataset: str,
        method: str,
        preset: str,
        params: dict[str, Any],
        seed: int,
        image_size: int,
        device: str,
        user: str | None,
    ) -> None:
        self.run_id = db_runs.create_run(
            self.store,
            dataset_name=dataset,
            method=method,
            preset=preset,
            params=params,
            seed=seed,
            image_size=image_size,
            mlflow_run_id=self.mlflow_run_id,
            worker_id=recovery.worker_id(),
            lease_seconds=recovery.LEASE_SECONDS,
        )
        db_runs.update_run(self.store, self.run_id, device=device, queued_by=user or None)
        # the run number the dashboard shows, also in the name MLflow shows ("#12 padim on elpv")
        self._log(
            tags={
                "workbench.run_id": str(self.run_id),
                "mlflow.runName": run_name(self.run_id, method, dataset),
            }
        )
        self._lease.enter_context(
            recovery.renewing(
                lambda: db_runs.renew_run_lease(self.store, self.run_id, recovery.LEASE_SECONDS),
                f"lease-run-{self.run_id}",
            )
        )

    def _abandon_partial(self, exc: BaseException) -> str:
        """Best effort: end what `__init__` had opened before it broke FAILED in both stores; the error."""
        error = _error_text(exc)
        if isinstance(exc, TrackingServerDown):
            error = recovery.mlflow_pending(error, exc.uri)  # the next command ends it in MLflow
        else:
            with suppress(Exception):
                self.client.set_terminated(self.mlflow_run_id, "FAILED")
        if self.run_id is not None:
            with suppress(Exception):
                db_runs.update_run(self.store, self.run_id, status="FAILED", error=error[:10000])
        self._lease.close()
        return error

    def _log(
        self,
        metrics: dict[str, float] | None = None,
        params: dict[str, str] | None = None,
        tags: dict[str, str] | None = None,
        step: int = 0,
    ) -> None:
        from mlflow.entities import Metric, Param, RunTag

        now = int(time.time() * 1000)
        self.client.log_batch(
            self.mlflow_run_id,
            metrics=[Metric(k, float(v), now, step) for k, v in (metrics or {}).items() if v is not None],
            params=[Param(k, v) for k, v in (params or {}).items()],
            tags=[RunTag(k, v) for k, v in (tags or {}).items()],
        )

    def log_epoch(self, epoch: int, losses: dict[str, float]) -> None:
        self._log(metrics={f"train_{k}": v for k, v in losses.items()}, step=epoch)

    def finish(
        self,
        *,
        metrics: dict[str, Any],
        arrays: RunArrays,
        weights: dict[str, Any] | None,
        notes: list[str],
        timings: dict[str, float],
        used: dict[str, str] | None = None,
        figures: dict[str, bytes] | None = None,
    ) -> None:
        """Write params (with what the method actually `used`, e.g. its weights), artifacts (`figures` as
        PNGs under figures/), final metrics and per-image rows; mark the run FINISHED in both stores.

        Params are logged here, not at the start, because MLflow never lets a param change once logged."""
        self.method_params.update(used or {})
        self.params.update(used or {})
        scalar = {k: v for k, v in metrics.items() if isinstance(v, int | float) and not isinstance(v, bool)}
        self._log(
            metrics={**scalar, **timings},
            params=_flat_params(self.params),
            tags={"workbench.notes": " | ".join(notes)[:4000]},
        )
        with tempfile.TemporaryDirectory() as tmp:
            for name, png in (figures or {}).items():
                (Path(tmp) / name).write_bytes(png)
                self.client.log_artifact(self.mlflow_run_id, str(Path(tmp) / name), artifact_path="figures")
            pred_file = Path(tmp) / PREDICTIONS_FILE
            arrays.save(pred_file)
            self.client.log_artifact(self.mlflow_run_id, str(pred_file))
            if weights is not None:
                weights_file = Path(tmp) / WEIGHTS_FILE
                torch.save(weights, weights_file)
                self.client.log_artifact(self.mlflow_run_id, str(weights_file), artifact_path="model")
            (Path(tmp) / "metrics.json").write_text(json.dumps(metrics, indent=1, default=float))
            self.client.log_artifact(self.mlflow_run_id, str(Path(tmp) / "metrics.json"))
        db_runs.add_predictions(
            self.store,
            self.run_id,
            [
                db_runs.PredictionRow(name, int(label), defect, float(score), float(norm))
                for name, label, defect, score, norm in zip(
                    arrays.names,
                    arrays.labels,
                    arrays.defect_types,
                    arrays.scores,
                    arrays.scores_normalized,
                    strict=True,
                )
            ],
        )
        db_runs.update_run(
            self.store,
            self.run_id,
            status="FINISHED",
            params_json=json.dumps(self.method_params, sort_keys=True, default=str),
            metrics_json=json.dumps(metrics, default=float),
            image_auroc=metrics.get("image_auroc"),
            pixel_auroc=metrics.get("pixel_auroc"),
            fit_seconds=timings.get("fit_seconds"),
            predict_seconds=timings.get("predict_seconds"),
            images_per_second=timings.get("images_per_second"),
            peak_memory_mb=timings.get("peak_memory_mb"),
            notes="\n".join(notes) or None,
        )
        self.client.set_terminated(self.mlflow_run_id, "FINISHED")
        self.finished = True
        self._lease.close()

    def fail(self, error: str, mlflow_down: TrackingServerDown | None = None) -> str:
        """End the run FAILED in both stores with its error; returns the error as recorded. A tracking
        server that does not answer (now or `mlflow_down` before) leaves the MLflow run to the next command's
        recovery, and the error says so; a results store that does not answer raises StoreUnreachable."""
        error, mlflow_error = error[:9000], None
        if mlflow_down is None:
            try:
                self._log(tags={"workbench.error": error[:4000]})
                self.client.set_terminated(self.mlflow_run_id, "FAILED")
            except TrackingServerDown as exc:
                mlflow_down = exc
            except Exception as exc:  # the results store must still say FAILED
                mlflow_error = exc
        if mlflow_down is not None:
            error = recovery.mlflow_pending(error, mlflow_down.uri)
        self.finished = True
        try:
            db_runs.update_run(self.store, self.run_id, status="FAILED", error=error)
        except StoreUnreachable as exc:
            raise StoreUnreachable(
                f"{exc}; run #{self.run_id} could not be recorded and will show FAILED once the store answers again"
            ) from exc
        finally:
            self._lease.close()
        if mlflow_error is not None:
            raise mlflow_error
        return error

    def __enter__(self) -> RunTracker:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: Any) -> None:
        if exc is not None and not self.finished:
            down = exc if isinstance(exc, TrackingServerDown) else None
            recorded = self.fail(_error_text(exc), down)
            if down is not None:  # say what became of the run, in the one sentence the user reads
                raise TrackingServerDown(f"run #{self.run_id} ended FAILED: {recorded}", down.uri) from exc
        elif not self.finished:
            self.fail("run ended without results")


def _error_text(exc: BaseException) -> str:
    """A run's error: a store's own sentence as it is, else the exception's type and message."""
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted (KeyboardInterrupt)"
    if isinstance(exc, StoreError):
        return str(exc)
    return "".join(traceback.format_exception_only(type(exc), exc)).strip()
