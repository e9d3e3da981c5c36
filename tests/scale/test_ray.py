"""Jobs as Ray tasks on a local Ray instance: a sweep runs every job once; a killed task fails only its job."""

from __future__ import annotations

import os
import signal

import pytest

from db import store
from engine import jobs, sweep
from engine.runconfig import RunConfig
from tests.faults.conftest import wait_for

ray = pytest.importorskip("ray", reason="ray is not installed (pip install -r requirements.txt)")


@pytest.fixture
def ray_executor(workbench_env):
    from engine.executors.ray_tasks import RayExecutor

    executor = RayExecutor(
        workbench_env["WORKBENCH_DB_URL"], workbench_env["MLFLOW_TRACKING_URI"], num_cpus=2
    )
    yield executor
    ray.shutdown()


def test_a_sweep_of_two_methods_and_two_seeds_runs_each_job_once(ray_executor, toy_folder, workbench_env):
    configs = sweep.grid([str(toy_folder)], ["autoencoder", "vae"], ["smoke"], [0, 1], image_size=32)
    ids = sweep.enqueue_sweep(configs)
    final = sweep.wait(ids, ray_executor, timeout=600)
    assert final == dict.fromkeys(ids, "DONE"), [jobs.get_job(i).error for i in ids]
    runs = store.list_runs()
    assert sorted((r.method, r.seed) for r in runs) == [
        ("autoencoder", 0),
        ("autoencoder", 1),
        ("vae", 0),
        ("vae", 1),
    ]
    assert all(r.status == "FINISHED" for r in runs)
    holders = {jobs.get_job(i).config.seed: store.get_run(jobs.get_job(i).run_id).worker_id for i in ids}
    assert all(str(os.getpid()) not in h.split(":")[1] for h in holders.values())  # run in Ray workers
    assert not ray_executor.ensure_running()  # nothing left to submit


def test_a_killed_task_fails_its_job_and_the_sweep_moves_on(ray_executor, toy_folder, workbench_env):
    long = RunConfig(str(toy_folder), "autoencoder", "smoke", image_size=32, overrides=(("epochs", "5000"),))
    short = RunConfig(str(toy_folder), "vae", "smoke", image_size=32)
    ids = sweep.enqueue_sweep([long, short])
    ray_executor.ensure_running()
    holder = wait_for(
        lambda: jobs.get_job(ids[0]).run_id and store.get_run(jobs.get_job(ids[0]).run_id).worker_id
    )
    os.kill(int(holder.split(":")[1]), signal.SIGKILL)  # the Ray worker process running the long job
    final = sweep.wait(ids, ray_executor, timeout=600)
    assert final == {ids[0]: "FAILED", ids[1]: "DONE"}
    assert "stopped while running it" in jobs.get_job(ids[0]).error
    assert store.get_run(jobs.get_job(ids[0]).run_id).status == "FAILED"
