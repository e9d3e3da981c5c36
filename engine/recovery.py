"""Recovery of the jobs and runs whose holder (engine.holder) is gone.

A worker or `train` process is named `host:pid:random` and holds a lease on its job and run, renewed by its
heartbeat thread. Any later command, worker or Train page marks a RUNNING job or run FAILED (in both stores)
once its lease expires, or at once when its process ran on this host and no longer exists. A run that ended
FAILED while its tracking server did not answer says so in its error, and is ended FAILED in MLflow by the
first such sweep that finds the server answering again."""

from __future__ import annotations

import os
import socket
import sys
import time
from contextlib import suppress
from datetime import datetime, timedelta
from pathlib import Path

from db import jobs as db_jobs
from db import locations
from db import runs as db_runs
from db.models import utcnow
from db.store import Store

STALE_AFTER_SECONDS = 120.0  # rows from before leases: abandoned when their heartbeat is this old


def pid_alive(pid: int | None) -> bool:
    """True when a process with this id exists on this machine and is not a zombie."""
    if not pid or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    stat = Path(f"/proc/{pid}/stat")
    with suppress(OSError, IndexError):
        return stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"
    return True


def abandoned_reason(
    holder: str | None,
    pid: int | None,
    lease_expires_at: datetime | None,
    heartbeat_at: datetime | None,
    now: datetime,
) -> str | None:
    """Why a RUNNING row's holder counts as gone, or None while it may be alive."""
    host = None
    if holder:
        host, _, rest = holder.partition(":")
        with suppress(ValueError):
            pid = int(rest.split(":", 1)[0])
    on_this_host = host is None or host == socket.gethostname()  # rows without a holder predate leases
    if on_this_host and pid == os.getpid():
        return None  # this process runs it (in-process workers, tests)
    who = holder or f"process {pid}"
    if on_this_host and not pid_alive(pid):
        return f"{who} stopped while running it"
    if lease_expires_at is not None and lease_expires_at < now:
        return f"{who} stopped renewing its lease (expired {lease_expires_at:%H:%M:%S} UTC)"
    if heartbeat_at is not None and heartbeat_at < now - timedelta(seconds=STALE_AFTER_SECONDS):
        return f"no heartbeat from {who} for over {STALE_AFTER_SECONDS:.0f} s"
    return None


def recover_abandoned(store: Store | None = None, mlflow_uri: str | None = None) -> list[int]:
    """Mark RUNNING jobs and runs whose holder is gone FAILED, in both stores; returns the job ids."""
    store = store or Store.at()
    now, failed = utcnow(), []
    for job in db_jobs.running_jobs(store):
        reason = abandoned_reason(job.worker_id, job.worker_pid, job.lease_expires_at, job.heartbeat_at, now)
        if reason and db_jobs.fail_job_and_run(store, job.id, f"interrupted: {reason}"):
            failed.append(job.id)
            _fail_in_mlflow(job.run_id, f"interrupted: {reason}", store, mlflow_uri)
    for run in db_runs.running_runs(store):
        if run.worker_id is None:  # recorded before leases: only its age tells
            old = run.started_at < now - timedelta(seconds=STALE_AFTER_SECONDS)
            reason = "the process running it stopped (recorded before leases)" if old else None
        else:
            reason = abandoned_reason(run.worker_id, None, run.lease_expires_at, None, now)
        if reason and db_runs.fail_run_if_running(store, run.id, f"interrupted: {reason}"):
            _fail_in_mlflow(run.id, f"interrupted: {reason}", store, mlflow_uri)
    _end_pending_mlflow_runs(store, mlflow_uri)
    return failed


# Written into a FAILED run's error while its MLflow run could not be ended, and found there by the sweep.
MLFLOW_PENDING = "; its MLflow run is marked FAILED once {uri} answers again"
MLFLOW_ENDED = "; its MLflow run was marked FAILED once {uri} answered again"


def mlflow_pending(error: str, uri: str) -> str:
    """`error` plus the note that its MLflow run (on the tracking server `uri`) is still to be ended."""
    return error + MLFLOW_PENDING.format(uri=uri)


def fail_mlflow_run(mlflow_run_id: str, error: str, mlflow_uri: str | None = None) -> None:
    """End an MLflow run FAILED with its error, e.g. after its worker died (no-op if it already ended)."""
    from mlflow.entities import RunTag

    from engine import mlflow_store

    client = mlflow_store.client(mlflow_uri)
    if client.get_run(mlflow_run_id).info.status != "RUNNING":
        return
    client.log_batch(mlflow_run_id, tags=[RunTag("workbench.error", error[:4000])])
    client.set_terminated(mlflow_run_id, "FAILED")


def _fail_in_mlflow(run_id: int | None, error: str, store: Store, mlflow_uri: str | None) -> None:
    run = db_runs.get_run(store, run_id) if run_id is not None else None
    if run is None or not run.mlflow_run_id:
        return
    from engine import mlflow_store

    uri = mlflow_store.public_uri(mlflow_uri or locations.mlflow_uri())
    try:
        if not mlflow_store.answers(uri):  # one quick try: a sweep must not wait on a stopped server
            raise mlflow_store.TrackingServerDown(f"the tracking server at {uri} did not answer", uri)
        fail_mlflow_run(run.mlflow_run_id, error, mlflow_uri)
    except mlflow_store.TrackingServerDown:
        db_runs.update_run(store, run.id, error=mlflow_pending(run.error or error, uri))
    except Exception as exc:  # the results store already says FAILED; MLflow is best effort
        print(f"could not mark MLflow run {run.mlflow_run_id} FAILED: {exc}", file=sys.stderr)


def _end_pending_mlflow_runs(store: Store, mlflow_uri: str | None) -> None:
    """End FAILED in MLflow the runs whose tracking server (this process's) did not answer when they ended."""
    uri = mlflow_uri or locations.mlflow_uri()
    if not uri.startswith(("http://", "https://")):
        return  # only a tracking server can be away; runs of another server wait for a process that uses it
    from engine import mlflow_store

    public = mlflow_store.public_uri(uri)
    pending = MLFLOW_PENDING.format(uri=public)
    runs = db_runs.failed_runs_whose_error_contains(store, pending)
    if not runs or not mlflow_store.answers(uri):
        return
    for run in runs:
        outcome = MLFLOW_ENDED.format(uri=public)
        try:
            fail_mlflow_run(run.mlflow_run_id, run.error, uri)
        except mlflow_store.TrackingServerDown:
            return  # gone again: the next sweep tries again
        except Exception as exc:  # e.g. the run is not on this server: say so instead of trying forever
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
            outcome = f"; its MLflow run could not be marked FAILED ({first})"
        db_runs.update_run(store, run.id, error=run.error.replace(pending, outcome))


_last_sweep: dict[Store | None, float] = {}


def recover_now_and_then(store: Store | None = None, every: float = 5.0) -> None:
    """`recover_abandoned` at most every `every` seconds per store (pages poll often)."""
    if time.monotonic() - _last_sweep.get(store, -1e9) < every:
        return
    _last_sweep[store] = time.monotonic()
    with suppress(Exception):  # a page must still render when the store is busy
        recover_abandoned(store)
