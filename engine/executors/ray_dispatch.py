"""The Ray dispatcher, `python -m engine worker --executor ray`: the one process that owns the Ray tasks of a
results store's queue, and `RayExecutor`, which keeps one running for the dashboard and `sweep`.

Why a dispatcher process. A Ray task lives as long as the driver that submitted it: when the dashboard or a
`sweep` command was that driver, restarting the one or killing the other ended every job it had submitted.
Pages and commands now only queue rows and make sure a dispatcher runs (started detached, in a session of its
own, exactly as the local executor starts its worker); the dispatcher submits one task per QUEUED job, holds
those jobs in its own name while Ray runs or retries their tasks (renewing their leases), and records how
each task ended. A detached named actor would also outlive the page, but it would itself need a driver to
create and find it from every page, its code would stay that of whoever created it first, and a restarted
actor loses the tasks it owned; Ray's job submission API needs the Ray dashboard's HTTP server and starts a
driver process per job. A dispatcher is a plain process: its lock file tells the app it is alive, its log
says which node ran each job, and killing it fails only the jobs it was running (its tasks end with it).

Why a cluster started by `ray start`. A Ray instance that `ray.init()` starts inside a process runs as that
process's children and shares its fate: in a page's process its GCS and raylet went defunct after the first
rerun (no job ever started), and a killed command left its agents behind. A dispatcher could start one, but
it would start and stop a whole Ray (seconds each) with every queue it empties, and lose it with every
crash. A cluster started by `ray start --head` outlives pages, commands and dispatchers alike, and `ray stop`
ends it as a whole; so `WORKBENCH_EXECUTOR=ray` without RAY_ADDRESS is refused in one sentence (NO_CLUSTER)
before anything is queued."""

from __future__ import annotations

import os
import sys
import time
from typing import Any

from db import jobs as db_jobs
from db import locations
from db.store import Store
from engine import recovery
from engine.executors import ray_tasks
from engine.executors.local import LocalProcessExecutor
from engine.holder import Holder
from engine.jobs import RECOVER_EVERY_SECONDS, config_from_payload
from engine.worker_lock import try_lock, worker_lock_path

NO_CLUSTER = (
    "WORKBENCH_EXECUTOR=ray needs a Ray cluster that outlives the dashboard: start one with `ray start --head` "
    "and set RAY_ADDRESS to its address (127.0.0.1:6379 on this machine), or use WORKBENCH_EXECUTOR=local"
)


def ray_address() -> str:
    """The cluster named by RAY_ADDRESS; a ValueError (NO_CLUSTER) when it is not set."""
    address = os.environ.get("RAY_ADDRESS", "").strip()
    if not address:
        raise ValueError(NO_CLUSTER)
    return address


class RayExecutor(LocalProcessExecutor):
    """Keeps one `python -m engine worker --executor ray --once` running on this machine while jobs wait."""

    def __init__(self, store: Store | None = None) -> None:
        ray_address()  # refused here, before anything is queued
        super().__init__(store, kind="ray")


class Dispatcher:
    """The bookkeeping of one dispatcher: which job each of its tasks runs, and what became of it."""

    def __init__(self, store: Store | None = None, mlflow_uri: str | None = None) -> None:
        self.store = store or Store.at()
        self.mlflow_uri = mlflow_uri or locations.mlflow_uri()
        self.holder = Holder()  # holds the jobs while Ray runs or retries their tasks
        self.pending: dict[Any, int] = {}  # ObjectRef -> job id
        self._recovered = -1e9

    def submit_queued(self) -> None:
        """A task for every QUEUED job that has none; a job no node could hold ends FAILED at once."""
        waiting = set(self.pending.values())
        fresh = [j for j in db_jobs.list_jobs(self.store, ("QUEUED",), limit=10_000) if j.id not in waiting]
        if not fresh:
            return
        room = ray_tasks.capacity()
        for job in sorted(fresh, key=lambda j: j.id):
            try:
                ask = ray_tasks.ask_for(config_from_payload(job.payload), self.store, room)
            except (ValueError, TypeError) as exc:
                if db_jobs.fail_job_and_run(
                    self.store, job.id, str(exc), holder=self.holder.name, queued_too=True
                ):
                    print(f"job {job.id}: FAILED before Ray: {exc}", file=sys.stderr)
                continue
            self.pending[ray_tasks.submit(job.id, self.holder.name, self.store, self.mlflow_uri, ask)] = (
                job.id
            )

    def settle(self, refs: list[Any]) -> None:
        """Record how each ended task went; a task Ray gave up on fails its job (if still this one's)."""
        for ref in refs:
            job_id = self.pending.pop(ref)
            status, where, why = ray_tasks.outcome(ref)
            if why is None:
                print(f"job {job_id}: {status} on {where}", file=sys.stderr)
                continue
            if status == "LOST":
                why = f"interrupted: Ray lost the worker or node running it, and on its one retry too ({why})"
            if db_jobs.fail_job_and_run(self.store, job_id, why, holder=self.holder.name, queued_too=True):
                print(f"job {job_id}: FAILED: {why}", file=sys.stderr)

    def renew(self) -> None:
        """Renew the leases of the jobs Ray still runs or retries (from the holder's heartbeat thread)."""
        db_jobs.renew_held(self.store, sorted(self.pending.values()), self.holder.name)

    def housekeeping(self) -> None:
        """Now and then fail the jobs of dead workers."""
        now = time.monotonic()
        if now - self._recovered >= RECOVER_EVERY_SECONDS:
            for job_id in recovery.recover_abandoned(self.store, self.mlflow_uri):
                print(f"job {job_id}: its worker died; marked FAILED", file=sys.stderr)
            self._recovered = now

    def run(self, once: bool, poll_seconds: float) -> None:
        """Dispatch until the queue is empty and every task has ended (`once`), else forever."""
        while True:
            self.housekeeping()
            self.submit_queued()
            self.settle(ray_tasks.finished(list(self.pending), poll_seconds))
            if once and not self.pending:
                self.submit_queued()  # queued while the last task ended
                if not self.pending:
                    return

    def abandon(self, why: str) -> None:
        """Fail the running jobs of this dispatcher's tasks, which end with it."""
        for job_id in sorted(self.pending.values()):
            db_jobs.fail_job_and_run(self.store, job_id, why, holder=self.holder.name)
        self.pending.clear()


def run_dispatcher(
    once: bool = False, poll_seconds: float = 1.0, store: Store | None = None, mlflow_uri: str | None = None
) -> int:
    """Run the queue as Ray tasks on the cluster at RAY_ADDRESS; exit code 0. Exits at once when another
    dispatcher of this results store runs on this machine."""
    store = store or Store.at()
    address = ray_address()
    lock = try_lock(worker_lock_path(store, "ray"))
    if lock is None:
        print(
            "a Ray dispatcher already runs for this results store; leaving the queue to it", file=sys.stderr
        )
        return 0
    dispatcher = Dispatcher(store, mlflow_uri)
    holder = dispatcher.holder
    try:
        with holder.exiting_on_sigterm(), holder.holding("ray-tasks", dispatcher.renew):
            ray_tasks.connect(address)
            print(f"dispatching to the Ray cluster at {address} as {holder.name}", file=sys.stderr)
            while True:
                dispatcher.run(once, poll_seconds)
                lock.close()  # a page that queues a job now starts a new dispatcher...
                if not db_jobs.list_jobs(store, ("QUEUED",), limit=1):
                    return 0
                lock = try_lock(worker_lock_path(store, "ray"))  # ...or this one carries on
                if lock is None:
                    return 0
    except BaseException as exc:
        dispatcher.abandon(f"interrupted: the Ray dispatcher stopped ({type(exc).__name__})")
        raise
    finally:
        ray_tasks.disconnect()
        if lock is not None:
            lock.close()
