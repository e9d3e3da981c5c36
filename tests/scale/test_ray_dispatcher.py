"""Jobs that outlive the command that queued them: with WORKBENCH_EXECUTOR=ray a `sweep` only queues rows and
starts the dispatcher (`python -m engine worker --executor ray`), which owns the Ray tasks. Killing the command
mid-sweep and running another loses no job and records none twice; nothing of Ray is left afterwards."""

from __future__ import annotations

import os
import signal

from db import jobs as db_jobs
from db import runs as db_runs
from engine import jobs
from engine.executors.ray_dispatch import RayExecutor
from engine.tracking import mlflow_client
from tests.faults.conftest import wait_for

ENDED = ("DONE", "FAILED", "CANCELLED")


def _sweep(cluster, folder, seeds: str):
    return cluster.engine(
        "sweep", "--datasets", str(folder), "--methods", "autoencoder,vae", "--presets", "smoke", "--seeds", seeds,
        "--executor", "ray", "--wait",
    )  # fmt: skip


def test_killing_the_command_that_queued_a_ray_sweep_loses_no_job(
    ray_cluster, toy_folder, workbench_env, env_store
):
    cluster = ray_cluster(head_cpus=2)
    first = _sweep(cluster, toy_folder, "0,1")
    wait_for(lambda: jobs.list_jobs(("RUNNING",)), 300, "a job of the first sweep to run")
    first.send_signal(signal.SIGKILL)  # the command that queued the sweep, mid-sweep
    first.communicate()
    queued_first = {v.id for v in jobs.list_jobs()}
    assert len(queued_first) == 4 and not all(jobs.get_job(i).status in ENDED for i in queued_first)

    again = _sweep(cluster, toy_folder, "2")  # the same command, run again while the first sweep goes on
    out, err = again.communicate(timeout=600)
    assert again.returncode == 0, err[-3000:]
    wait_for(lambda: all(v.status in ENDED for v in jobs.list_jobs()), 300, "every job to end")

    views = jobs.list_jobs()
    assert [v.status for v in views] == ["DONE"] * 6, [(v.id, v.status, v.error) for v in views]
    holders = {db_jobs.get_job(env_store, v.id).worker_id.split(":")[1] for v in views}
    assert not holders & {str(first.pid), str(again.pid), str(os.getpid())}  # held by the dispatcher
    runs = db_runs.list_runs(env_store)
    assert sorted(r.id for r in runs) == sorted(v.run_id for v in views)  # one run per job
    assert all(r.status == "FINISHED" for r in runs)
    client = mlflow_client(workbench_env["MLFLOW_TRACKING_URI"])
    recorded = client.search_runs([e.experiment_id for e in client.search_experiments()])
    mlflow_ids = sorted(r.info.run_id for r in recorded)
    assert mlflow_ids == sorted(r.mlflow_run_id for r in runs)  # one MLflow run each

    wait_for(lambda: not RayExecutor().is_running(), 60, "the dispatcher to exit with the queue empty")
    assert cluster.stop() == []  # no raylet, agent, worker or dispatcher of this test is left
