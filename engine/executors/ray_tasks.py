"""Everything that talks to Ray (the only module of `engine` and `db` that imports `ray`): connecting the
dispatcher (engine.executors.ray_dispatch) to the cluster, what one job's task asks Ray for, submitting it,
reading how it ended, and the task's body.

No secret passes through Ray. A task gets the store and tracking URLs without their passwords (as arguments;
`runtime_env` carries only the data directory and the import path), and its worker takes the password from
its own environment: the `WORKBENCH_DB_URL` / `MLFLOW_TRACKING_URI` its `ray start` was given, when that names
the same place, else libpq's password file (`PGPASSFILE` or ~/.pgpass, readable only by its owner). Ray's
session logs (runtime_env_agent.log among them) therefore never hold a password.

A task asks for one CPU, the memory its job needs (the preflight's estimate, engine.resources.memory_need)
as Ray's `memory` resource and a share of a GPU by method and preset (engine.resources.gpu_share) when the
cluster has GPUs; it checks the memory again where it runs, before the run starts. Ray retries a task once
when its worker or node is lost (`max_retries=1`): the retry re-claims its own job, which is held in the
dispatcher's name (`db.jobs.claim(again=True)`), and nobody else's."""

from __future__ import annotations

import os
import socket
import sys
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from db import jobs as db_jobs
from db import locations
from db import runs as db_runs
from db.store import Store
from engine import jobs
from engine.methods import get_method
from engine.methods.params import make_params
from engine.recovery import fail_mlflow_run
from engine.resources import BASE_BYTES, dataset_size, gpu_share, memory_need
from engine.runconfig import batch_size, preflight

FORWARDED_ENV = ("WORKBENCH_DATA_DIR", "MLFLOW_DISABLE_TELEMETRY", "HF_HUB_OFFLINE")  # never a password
MAX_RETRIES = 1  # a task whose worker or node is lost runs once more, elsewhere if it can
GIB = 2.0**30


# --- secrets -------------------------------------------------------------------------------------


def without_password(url: str | None) -> str | None:
    """`url` with the password of its user part removed (`scheme://user@host/...`); unchanged without one."""
    if not url:
        return url
    parts = urlsplit(url)
    userinfo, at, host = parts.netloc.rpartition("@")
    if not at or ":" not in userinfo:
        return url
    return urlunsplit(parts._replace(netloc=f"{userinfo.partition(':')[0]}@{host}"))


def on_this_worker(public: str | None, variable: str) -> str | None:
    """The URL a worker uses: its own `variable` (password included) when it names the same place as
    `public`, else `public` itself (libpq then reads the password from PGPASSFILE or ~/.pgpass)."""
    own = os.environ.get(variable)
    if own and without_password(own) == public:
        return own
    return public


# --- what a task asks for ------------------------------------------------------------------------


@dataclass(frozen=True)
class Capacity:
    """The most that one alive node of the cluster offers."""

    memory: float  # bytes of Ray's `memory` resource
    gpus: float


@dataclass(frozen=True)
class Ask:
    """The resources of one job's task."""

    memory: int  # bytes
    gpus: float


def capacity() -> Capacity:
    import ray

    nodes = [node["Resources"] for node in ray.nodes() if node.get("Alive")]
    return Capacity(
        memory=max((n.get("memory", 0.0) for n in nodes), default=0.0),
        gpus=max((n.get("GPU", 0.0) for n in nodes), default=0.0),
    )


def ask_for(config: Any, store: Store | None, room: Capacity) -> Ask:
    """What the task of a job with this RunConfig asks Ray for; a ValueError (one sentence) when no node of the
    cluster could ever hold it (Ray would keep such a task waiting forever)."""
    params = make_params(get_method(config.method), config.preset, dict(config.overrides))
    size = dataset_size(config.dataset, store)
    need = memory_need(size, config.dataset, config.image_size, batch_size(params)) if size else None
    memory = need.bytes if need else BASE_BYTES
    if memory > room.memory:
        raise ValueError(
            f"this run needs about {memory / GIB:.1f} GiB"
            + (
                f" ({need.images} images at {need.image_size} px, batch size {need.batch_size})"
                if need
                else ""
            )
            + f" but the largest Ray node offers {room.memory / GIB:.1f} GiB; lower image_size or batch_size, "
            "or add a bigger node to the cluster"
        )
    gpus = (
        gpu_share(config.method, config.preset, config.device)
        if room.gpus or config.device == "cuda"
        else 0.0
    )
    if gpus > room.gpus:
        raise ValueError(
            "device=cuda but no node of the Ray cluster has a GPU; choose device auto or cpu, or add a GPU node"
        )
    return Ask(int(memory), gpus)


# --- the dispatcher's side -----------------------------------------------------------------------


def connect(address: str) -> None:
    """Join the cluster at `address` as a driver; the tasks it submits are owned by this process."""
    import ray

    if ray.is_initialized():
        return
    env = {k: os.environ[k] for k in FORWARDED_ENV if k in os.environ}
    env["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(locations.PROJECT_ROOT), os.environ.get("PYTHONPATH")])
    )
    try:
        ray.init(address=address, log_to_driver=False, runtime_env={"env_vars": env})
    except ConnectionError as exc:
        raise ValueError(
            f"cannot reach the Ray cluster at RAY_ADDRESS={address} ({exc}); is `ray start` running?"
        ) from None


def disconnect() -> None:
    import ray

    ray.shutdown()


_remote: Any = None


def submit(job_id: int, holder: str, store: Store, mlflow_uri: str, ask: Ask) -> Any:
    """Submit the task of one job (claimed in `holder`'s name when it starts); returns its ObjectRef."""
    global _remote
    import ray

    if _remote is None:
        _remote = ray.remote(run_queued_job)
    task = _remote.options(
        num_cpus=1,
        num_gpus=ask.gpus,
        memory=ask.memory,
        max_retries=MAX_RETRIES,
        name=f"workbench job {job_id}",
    )
    return task.remote(job_id, holder, without_password(store.url), without_password(mlflow_uri))


def finished(refs: list[Any], timeout: float) -> list[Any]:
    """Those of `refs` whose task has ended, waiting up to `timeout` seconds for all of them."""
    if not refs:
        time.sleep(timeout)
        return []
    import ray

    done, _ = ray.wait(refs, num_returns=len(refs), timeout=timeout)
    return done


def outcome(ref: Any) -> tuple[str, str, str | None]:
    """How a task ended: (the job status it returned, where it ran, None), or ("ERROR", "", why) when the task
    raised, or ("LOST", "", why) when Ray lost its worker or node, and on the retry too."""
    import ray

    try:
        status, node, host = ray.get(ref)
    except ray.exceptions.RayTaskError as exc:
        cause = getattr(exc, "cause", None)
        return "ERROR", "", str(cause) if cause is not None else str(exc).strip().splitlines()[-1]
    except ray.exceptions.RayError as exc:
        first = (str(exc).strip().splitlines() or [""])[0]
        return "LOST", "", f"{type(exc).__name__}: {first}"
    return status, f"Ray node {node} ({host})", None


# --- the task ------------------------------------------------------------------------------------


def run_queued_job(job_id: int, holder: str, db_where: str, mlflow_where: str) -> tuple[str, str, str]:
    """Body of one Ray task: claim the job (again, after a retry), check its memory on this node, run it;
    returns (its status, this node's id, this host). "SKIPPED" when someone else runs it or it has ended."""
    import ray

    node, host = ray.get_runtime_context().get_node_id(), socket.gethostname()
    db_url = on_this_worker(db_where, "WORKBENCH_DB_URL")
    mlflow_uri = on_this_worker(mlflow_where, "MLFLOW_TRACKING_URI")
    try:
        store = Store.at(db_url)
        job = db_jobs.claim(store, job_id, os.getpid(), holder, again=True)
    except Exception as exc:  # most often: this worker has no password for the store
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise RuntimeError(
            f"the Ray worker on {host} could not open the results store {db_where} ({first}); start its "
            "`ray start` with the same WORKBENCH_DB_URL, password included, or give it a PGPASSFILE"
        ) from None
    if job is None:
        return "SKIPPED", node, host
    if job.run_id is not None:  # a retry: Ray lost the attempt that opened this run
        _fail_lost_attempt(job.run_id, store, mlflow_uri)
        db_jobs.update_job(store, job_id, run_id=None, progress=0.0, message="retried by Ray")
    try:
        preflight(jobs.config_from_payload(job.payload), store)  # this node's free memory, before the run
    except (ValueError, TypeError) as exc:
        db_jobs.finish_job(store, job_id, "FAILED", f"on Ray node {host}: {exc}")
        return "FAILED", node, host
    return jobs.run_job(job, store, mlflow_uri), node, host


def _fail_lost_attempt(run_id: int, store: Store, mlflow_uri: str | None) -> None:
    """End the run of a job's lost attempt FAILED in both stores (the retry records a run of its own)."""
    why = "interrupted: Ray lost the worker or node running it; the job was retried"
    run = db_runs.get_run(store, run_id)
    if run is None or not db_runs.fail_run_if_running(store, run_id, why) or not run.mlflow_run_id:
        return
    try:
        fail_mlflow_run(run.mlflow_run_id, why, mlflow_uri)
    except Exception as exc:  # the results store already says FAILED; MLflow is best effort
        print(f"could not mark MLflow run {run.mlflow_run_id} FAILED: {exc}", file=sys.stderr)
