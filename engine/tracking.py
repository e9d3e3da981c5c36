"""The one place that records a run in both stores: `RunTracker` opens it (an MLflow run and a RUNNING row held
by a lease), logs its losses, and ends it FINISHED with its outcome or FAILED with its error.

What goes to MLflow and under which name is engine.mlflow_run's; the per-image arrays are engine.artifacts'."""

from __future__ import annotations

import traceback
from contextlib import ExitStack, suppress
from typing import Any

from db import runs as db_runs
from db.jobs import LEASE_SECONDS
from db.schema import StoreError, StoreUnreachable
from db.store import Store
from engine import mlflow_store, recovery
from engine.artifacts import RunArrays
from engine.holder import Holder
from engine.mlflow_run import experiment_id, log_artifacts, log_batch, run_name
from engine.mlflow_store import TrackingServerDown


def mlflow_client(uri: str | None = None):
    """An explicit MlflowClient on a ready store (never the process-global fluent API)."""
    return mlflow_store.client(uri)


class RunTracker:
    """Records one run in both stores. Made, it has written nothing; entered (or `open`ed), it holds a RUNNING
    run; an exception in the `with` body ends the run FAILED in both stores."""

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
        holder: Holder | None = None,
    ) -> None:
        self.dataset, self.method, self.preset, self.seed = dataset, method, preset, seed
        self.image_size, self.device, self.user = image_size, device, user
        self.store = store or Store.at()  # fixed now: the lease thread must not follow the env
        self.mlflow_uri = mlflow_uri
        self.holder = holder or Holder()  # who holds the run's lease (and names itself in `runs.worker_id`)
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
        self._lease = ExitStack()  # renews the run's lease until it ends, so a killed process is noticed
        self.finished = False
        self.client: Any = None  # an MlflowClient once opened
        self.run_id: int | None = None
        self.mlflow_run_id: str | None = None

    def open(self) -> RunTracker:
        """Open the record: an MLflow run and a RUNNING row held by a lease. Whatever breaks it (a SIGTERM
        included) ends what was opened FAILED in both stores before the exception goes on."""
        try:
            # A SIGTERM while opening is held back until the record is whole (its run id known), then raised
            # here, so the handler below can end the run FAILED: a SystemExit inside `db.runs.create_run`, after
            # its commit, would leave a RUNNING row that nothing knows the id of.
            with self.holder.uninterrupted():
                self._open()
        except BaseException as exc:  # nothing may stay RUNNING because opening the record broke
            recorded = self._abandon_partial(exc)
            if isinstance(exc, TrackingServerDown) and self.run_id is not None:
                raise TrackingServerDown(f"run #{self.run_id} ended FAILED: {recorded}", exc.uri) from exc
            raise
        return self

    def _open(self) -> None:
        self.client = mlflow_client(self.mlflow_uri)
        exp = experiment_id(self.client, self.dataset)
        tags = {
            "workbench.method": self.method,
            "workbench.dataset": self.dataset,
            "workbench.preset": self.preset,
        }
        if self.user:
            tags["workbench.user"] = self.user
            tags["mlflow.user"] = self.user  # MLflow's "Created by"
        mlrun = self.client.create_run(exp, run_name=f"{self.method} on {self.dataset}", tags=tags)
        self.mlflow_run_id = mlrun.info.run_id
        self.artifact_uri: str = mlrun.info.artifact_uri
        store = self.store
        self.run_id = run_id = db_runs.create_run(
            store,
            dataset_name=self.dataset,
            method=self.method,
            preset=self.preset,
            params=self.method_params,
            seed=self.seed,
            image_size=self.image_size,
            mlflow_run_id=self.mlflow_run_id,
            worker_id=self.holder.name,
            lease_seconds=LEASE_SECONDS,
        )
        db_runs.update_run(store, run_id, device=self.device, queued_by=self.user or None)
        # the run number the dashboard shows, also in the name MLflow shows ("#12 padim on elpv")
        self._log(
            tags={
                "workbench.run_id": str(run_id),
                "mlflow.runName": run_name(run_id, self.method, self.dataset),
            }
        )
        self._lease.enter_context(
            self.holder.holding(
                f"run-{run_id}", lambda: db_runs.renew_run_lease(store, run_id, LEASE_SECONDS)
            )
        )

    def _abandon_partial(self, exc: BaseException) -> str:
        """Best effort: end what `open` had opened before it broke FAILED in both stores; the error."""
        error = _error_text(exc)
        if isinstance(exc, TrackingServerDown):
            error = recovery.mlflow_pending(error, exc.uri)  # the next command ends it in MLflow
        elif self.mlflow_run_id is not None:
            with suppress(Exception):
                self._log(tags={"workbench.error": error[:4000]})
            with suppress(Exception):
                self.client.set_terminated(self.mlflow_run_id, "FAILED")
        if self.run_id is not None:
            with suppress(Exception):
                db_runs.update_run(self.store, self.run_id, status="FAILED", error=error[:10000])
        self._lease.close()
        return error

    def _log(self, **batch: Any) -> None:
        log_batch(self.client, self.mlflow_run_id, **batch)

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
            params=self.params,
            tags={"workbench.notes": " | ".join(notes)[:4000]},
        )
        log_artifacts(self.client, self.mlflow_run_id, arrays, weights, figures or {})
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
            params=self.method_params,
            metrics=metrics,
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
        return self.open()

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
