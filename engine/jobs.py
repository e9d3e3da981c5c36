"""The training queue and its worker: jobs live in the results store, a worker process claims and runs them.

`enqueue` adds a job, `run_worker` (the CLI `python -m engine worker`) runs the queue and `run_job` one
claimed job, writing progress, lease renewals and results to the job row; a holder that died leaves jobs
that any later command marks FAILED (engine.recovery). What starts the work is an executor
(engine.executors: a local worker process, or one Ray task per job).
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time
import traceback
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from db import jobs as db_jobs
from db.models import Job
from db.store import Store
from engine import recovery
from engine.holder import Holder
from engine.run import train_and_evaluate
from engine.runconfig import Progress, RunCancelled, RunConfig, preflight
from engine.worker_lock import try_lock, worker_lock_path

RECOVER_EVERY_SECONDS = 30.0  # how often an idle worker looks for abandoned jobs


# --- the queue -----------------------------------------------------------------------------------


def config_to_payload(config: RunConfig) -> dict[str, Any]:
    """A job's payload (its `jobs.payload` JSON column): the RunConfig's fields."""
    return dataclasses.asdict(config)


def config_from_payload(payload: Any) -> RunConfig:
    """The RunConfig of a job payload; anything but an object of RunConfig's fields is refused by name."""
    if not isinstance(payload, dict):
        raise ValueError(
            f"job payload must be a JSON object of RunConfig fields, got {type(payload).__name__}"
        )
    data = dict(payload)
    fields = {f.name for f in dataclasses.fields(RunConfig)}
    unknown = sorted(set(data) - fields)
    if unknown:
        raise ValueError(f"job payload has unknown RunConfig fields {unknown}; valid: {sorted(fields)}")
    data["overrides"] = tuple((str(k), str(v)) for k, v in data.get("overrides", ()))
    data["labeled_anomalies"] = tuple(data.get("labeled_anomalies", ()))
    return RunConfig(**data)


def memory_checked_here() -> bool:
    """Whether queuing a job checks this machine's free memory: yes when a worker here runs it
    (WORKBENCH_EXECUTOR=local); with `ray` the job runs on a node of the cluster, so its Ray task declares the
    memory it needs and checks that node's free memory when it starts there."""
    return os.environ.get("WORKBENCH_EXECUTOR", "local") != "ray"


def enqueue(config: RunConfig, store: Store | None = None) -> int:
    """Queue one training run after checking its parameters (and, run here, its memory need); returns the job
    id."""
    store = store or Store.at()
    preflight(config, store, memory_here=memory_checked_here())
    return db_jobs.add_job(store, config_to_payload(config), kind="train")


def retry(job_id: int, store: Store | None = None) -> int:
    """Queue a FAILED or CANCELLED job's configuration again, as a new job that records which job it retries;
    ValueError (one sentence) when it was retried already, did not fail, or its configuration no longer passes."""
    store = store or Store.at()
    job = db_jobs.get_job(store, job_id)
    if job is None:
        raise ValueError(f"there is no job #{job_id}")
    preflight(config_from_payload(job.payload), store, memory_here=memory_checked_here())
    return db_jobs.add_job(store, job.payload, kind=job.kind, retry_of=job_id)


def cancel(job_id: int, store: Store | None = None) -> str:
    """Cancel a queued job, or ask a running one to stop after its current epoch; returns its status."""
    store = store or Store.at()
    return db_jobs.request_cancel(store, job_id)


@dataclass(frozen=True)
class JobView:
    """A job row with its run configuration unpacked, for listing."""

    id: int
    status: str
    method: str
    dataset: str
    preset: str
    progress: float
    phase: str | None
    epoch: int | None
    epochs: int | None
    loss: float | None
    eta_seconds: float | None
    run_id: int | None
    error: str | None
    cancel_requested: bool
    created_at: datetime
    started_at: datetime | None
    ended_at: datetime | None
    config: RunConfig | None
    retry_of: int | None = None  # the failed or cancelled job this one retries


def _view(job: Job) -> JobView:
    try:
        config: RunConfig | None = config_from_payload(job.payload)
    except (ValueError, TypeError):
        config = None
    return JobView(
        id=job.id,
        status=job.status,
        method=config.method if config else "?",
        dataset=config.dataset if config else "?",
        preset=config.preset if config else "?",
        progress=float(job.progress or 0.0),
        phase=job.message,
        epoch=job.epoch,
        epochs=job.epochs,
        loss=job.loss,
        eta_seconds=job.eta_seconds,
        run_id=job.run_id,
        error=job.error,
        cancel_requested=bool(job.cancel_requested),
        created_at=job.created_at,
        started_at=job.started_at,
        ended_at=job.ended_at,
        config=config,
        retry_of=job.retry_of,
    )


def list_jobs(
    statuses: tuple[str, ...] | None = None, limit: int = 100, store: Store | None = None
) -> list[JobView]:
    """Jobs, newest first, optionally only those with one of `statuses` (abandoned ones marked FAILED first)."""
    store = store or Store.at()
    recovery.recover_now_and_then(store)
    return [_view(job) for job in db_jobs.list_jobs(store, statuses, limit)]


def get_job(job_id: int, store: Store | None = None) -> JobView | None:
    store = store or Store.at()
    job = db_jobs.get_job(store, job_id)
    return None if job is None else _view(job)


# --- running one job -----------------------------------------------------------------------------


def eta_seconds(elapsed: float, fraction: float) -> float | None:
    """Remaining seconds if the rest goes at the pace so far; None until there is a pace to go by."""
    if fraction <= 0.05 or elapsed <= 0:
        return None
    return max(0.0, elapsed * (1.0 - fraction) / fraction)


def _main_loss(losses: dict[str, float]) -> float | None:
    if not losses:
        return None
    return float(losses.get("loss", next(iter(losses.values()))))


def _error_text(exc: BaseException) -> str:
    """What the Train page shows of a failure: the message of a ValueError (bad data or parameters: written for
    people), else the exception's class and message. The traceback goes to the worker's log only."""
    message = str(exc).strip() or "no message"
    return message if isinstance(exc, ValueError) else f"{type(exc).__name__}: {message}"


def run_job(
    job: Job, store: Store | None = None, mlflow_uri: str | None = None, holder: Holder | None = None
) -> str:
    """Run one claimed job to DONE, FAILED or CANCELLED; returns that status. `holder` (this process's: the
    worker's, else one of its own) renews the job's lease and its run's from one heartbeat thread."""
    store = store or Store.at()
    holder = holder or Holder()
    try:
        config = config_from_payload(job.payload)
    except (ValueError, TypeError) as exc:
        db_jobs.finish_job(store, job.id, "FAILED", f"bad job payload: {exc}")
        return "FAILED"
    start = time.monotonic()

    def on_progress(p: Progress) -> None:
        phase = p.phase if p.images is None else f"{p.phase} {p.images[0]}/{p.images[1]} images"
        fields: dict[str, Any] = {"progress": p.fraction, "message": phase}
        if p.epoch is not None:
            fields.update(epoch=p.epoch, epochs=p.epochs)
        if (loss := _main_loss(p.losses)) is not None:
            fields["loss"] = loss
        if p.run_id is not None:
            fields["run_id"] = p.run_id
        fields["eta_seconds"] = eta_seconds(time.monotonic() - start, p.fraction)
        db_jobs.update_job(store, job.id, **fields)

    def should_stop() -> bool:
        return db_jobs.cancel_requested(store, job.id)

    with holder.holding(f"job-{job.id}", lambda: db_jobs.update_job(store, job.id)):
        try:
            result = train_and_evaluate(
                config, on_progress, should_stop, store=store, mlflow_uri=mlflow_uri, holder=holder
            )
        except RunCancelled:
            db_jobs.finish_job(store, job.id, "CANCELLED", "cancelled by the user")
            return "CANCELLED"
        except Exception as exc:
            print(f"job {job.id} failed:", file=sys.stderr)
            traceback.print_exception(exc, file=sys.stderr)  # the details, for whoever runs the server
            db_jobs.finish_job(store, job.id, "FAILED", _error_text(exc))
            return "FAILED"
        except BaseException as exc:  # KeyboardInterrupt, SystemExit from SIGTERM: record, then stop
            db_jobs.fail_job_and_run(store, job.id, f"interrupted: worker stopped ({type(exc).__name__})")
            raise
    db_jobs.finish_job(store, job.id, "DONE", progress=1.0, run_id=result.run_id)
    return "DONE"


# --- the worker ----------------------------------------------------------------------------------


def run_worker(
    once: bool = False,
    poll_seconds: float = 1.0,
    store: Store | None = None,
    mlflow_uri: str | None = None,
    max_jobs: int | None = None,
) -> int:
    """Run queued jobs one after another (`once`: until the queue is empty, else forever); exit code 0.

    On start and every RECOVER_EVERY_SECONDS, jobs abandoned by a dead worker are marked FAILED."""
    store = store or Store.at()
    lock = try_lock(worker_lock_path(store))  # others may run too; the lock tells the app one is alive
    holder = Holder()
    try:
        with holder.exiting_on_sigterm():  # a SIGTERM ends the job and its run FAILED, then the worker
            for job_id in recovery.recover_abandoned(store, mlflow_uri):
                print(f"job {job_id}: its worker died; marked FAILED", file=sys.stderr)
            last_recovery, done = time.monotonic(), 0
            while max_jobs is None or done < max_jobs:
                holder.exit_if_asked()  # a SIGTERM that landed where Python dropped its exit
                job = db_jobs.claim_next(store, os.getpid(), worker_id=holder.name)
                if job is None:
                    if once:
                        break
                    time.sleep(poll_seconds)
                    if time.monotonic() - last_recovery > RECOVER_EVERY_SECONDS:
                        recovery.recover_abandoned(store, mlflow_uri)
                        last_recovery = time.monotonic()
                    continue
                status = run_job(job, store, mlflow_uri, holder)
                print(f"job {job.id}: {status}", file=sys.stderr)
                done += 1
        return 0
    finally:
        if lock is not None:
            lock.close()
