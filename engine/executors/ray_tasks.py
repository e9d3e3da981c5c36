"""The Ray executor: each QUEUED job becomes one Ray task on the cluster at `RAY_ADDRESS` (or on a local Ray
instance started here). The task claims its job atomically, runs it with `engine.jobs.run_job` (progress,
cancel and lease through the store) and records the run itself, so its artifacts go wherever
`MLFLOW_TRACKING_URI` points. Ray reuses its worker processes, so torch is imported once per worker.

This is the only module of `engine` and `db` that imports `ray`."""

from __future__ import annotations

import os
from typing import Any

from db import jobs as db_jobs
from engine import config as locations

FORWARDED_ENV = ("WORKBENCH_DB_URL", "WORKBENCH_DATA_DIR", "MLFLOW_TRACKING_URI", "MLFLOW_DISABLE_TELEMETRY")


def run_queued_job(job_id: int, db_url: str | None, mlflow_uri: str | None) -> str:
    """Body of one Ray task: claim the job and run it; "SKIPPED" when someone else claimed it first."""
    from engine import jobs, recovery

    job = db_jobs.claim(job_id, os.getpid(), recovery.worker_id(), url=db_url)
    if job is None:
        return "SKIPPED"
    return jobs.run_job(job, db_url, mlflow_uri)


class RayExecutor:
    """Submits one task per QUEUED job (a GPU each when the cluster has GPUs); workers are reused."""

    def __init__(self, db_url: str | None = None, mlflow_uri: str | None = None, num_cpus: int | None = None):
        self.db_url = db_url
        self.mlflow_uri = mlflow_uri
        self.num_cpus = num_cpus  # for a local Ray instance only (RAY_ADDRESS unset)
        self._pending: dict[int, Any] = {}  # job id -> ObjectRef of its task
        self._task: Any = None

    def _connect(self) -> Any:
        import ray

        if not ray.is_initialized():
            env = {k: os.environ[k] for k in FORWARDED_ENV if k in os.environ}
            env["PYTHONPATH"] = os.pathsep.join(
                filter(None, [str(locations.PROJECT_ROOT), os.environ.get("PYTHONPATH")])
            )
            address = os.environ.get("RAY_ADDRESS") or None
            ray.init(
                address=address,
                num_cpus=None if address else self.num_cpus,
                include_dashboard=False,
                log_to_driver=False,
                runtime_env={"env_vars": env},
            )  # token authentication stays as Ray sets it (on by default for local clusters)
        if self._task is None:
            gpus = 1 if ray.cluster_resources().get("GPU", 0) >= 1 else 0
            self._task = ray.remote(num_cpus=1, num_gpus=gpus, max_retries=0)(run_queued_job)
        return ray

    def ensure_running(self) -> bool:
        """Submit a task for every QUEUED job not yet submitted by this executor; True when any was."""
        queued = [job.id for job in db_jobs.list_jobs(("QUEUED",), limit=10_000, url=self.db_url)]
        fresh = [job_id for job_id in sorted(queued) if job_id not in self._pending]
        if not fresh:
            return False
        self._connect()
        for job_id in fresh:
            self._pending[job_id] = self._task.remote(job_id, self.db_url, self.mlflow_uri)
        return True

    def is_running(self) -> bool:
        if not self._pending:
            return False
        import ray

        refs = list(self._pending.values())
        done, _ = ray.wait(refs, num_returns=len(refs), timeout=0)
        finished = set(done)
        self._pending = {j: r for j, r in self._pending.items() if r not in finished}
        return bool(self._pending)
