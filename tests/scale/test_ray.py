"""Jobs as Ray tasks on a one-node cluster: refused without a cluster; a sweep runs every job once, each task
checking its job's memory on the node; a killed task is retried once by Ray, then fails its job with why."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from db import jobs as db_jobs
from db import runs as db_runs
from engine import jobs, sweep
from engine.executors import executor_from_config
from engine.executors.ray_dispatch import NO_CLUSTER, RayExecutor
from engine.runconfig import RunConfig
from tests.faults.conftest import wait_for
from tests.scale.ray_cluster import PROJECT_ROOT, dispatcher_log


def test_ray_without_a_cluster_is_refused_in_one_sentence_and_queues_nothing(
    workbench_env, toy_folder, monkeypatch
):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    env = {**os.environ, "WORKBENCH_EXECUTOR": "ray"}
    sweep_args = ["sweep", "--datasets", str(toy_folder), "--methods", "autoencoder", "--presets", "smoke"]
    for args in (sweep_args, ["worker", "--once"]):
        done = subprocess.run(
            [sys.executable, "-m", "engine", *args], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True
        )
        assert (done.returncode, done.stderr.strip()) == (2, f"error: {NO_CLUSTER}"), done.stderr
    assert "`ray start --head`" in NO_CLUSTER and "RAY_ADDRESS" in NO_CLUSTER
    assert jobs.list_jobs() == []
    with pytest.raises(ValueError, match="ray start --head"):
        executor_from_config(kind="ray")


def test_a_sweep_runs_each_job_once_and_each_task_checks_memory_where_it_runs(
    ray_cluster, toy_folder, workbench_env, env_store
):
    ray_cluster(head_cpus=2, memory=2**40)  # Ray believes the node offers 1 TiB; the machine has far less
    configs = sweep.grid([str(toy_folder)], ["autoencoder", "vae"], ["smoke"], [0, 1], image_size=32)
    ids = sweep.enqueue_sweep(configs)
    huge = RunConfig(
        str(toy_folder), "autoencoder", "smoke", image_size=1024, overrides=(("batch_size", "64"),)
    )
    huge_id = jobs.enqueue(huge)  # queued: with WORKBENCH_EXECUTOR=ray the node it runs on checks the memory
    final = sweep.wait([*ids, huge_id], RayExecutor(), timeout=600)
    assert final == {**dict.fromkeys(ids, "DONE"), huge_id: "FAILED"}, [jobs.get_job(i).error for i in ids]
    error = jobs.get_job(huge_id).error
    assert error.startswith("on Ray node ") and "this run needs about" in error and "GiB free" in error
    runs = db_runs.list_runs(env_store)  # the huge job was refused before its run started
    assert sorted((r.method, r.seed) for r in runs) == [
        ("autoencoder", 0),
        ("autoencoder", 1),
        ("vae", 0),
        ("vae", 1),
    ]
    assert all(r.status == "FINISHED" for r in runs)
    assert all(str(os.getpid()) != r.worker_id.split(":")[1] for r in runs)  # run in Ray workers
    holders = {db_jobs.get_job(env_store, i).worker_id for i in ids}
    assert len(holders) == 1 and str(os.getpid()) != holders.pop().split(":")[1]  # held by the dispatcher


def test_a_killed_task_is_retried_once_then_its_job_fails_with_why(
    ray_cluster, toy_folder, workbench_env, env_store
):
    ray_cluster(head_cpus=2)
    long = RunConfig(str(toy_folder), "autoencoder", "smoke", image_size=32, overrides=(("epochs", "5000"),))
    short = RunConfig(str(toy_folder), "vae", "smoke", image_size=32)
    ids = sweep.enqueue_sweep([long, short])
    executor = RayExecutor()
    executor.ensure_running()

    def holder_of_its_run() -> str | None:
        job = jobs.get_job(ids[0])
        return job.run_id and db_runs.get_run(env_store, job.run_id).worker_id

    first = wait_for(holder_of_its_run, 300, "the long job's run")
    os.kill(int(first.split(":")[1]), signal.SIGKILL)  # the Ray worker process running the long job

    def retried() -> str | None:
        job = jobs.get_job(ids[0])
        assert job.status in ("RUNNING", "QUEUED"), f"{job.status}: {job.error}\n{dispatcher_log()[-2000:]}"
        return (h := holder_of_its_run()) != first and h

    second = wait_for(retried, 300, "Ray's retry of the long job")
    os.kill(int(second.split(":")[1]), signal.SIGKILL)  # and the retry's
    final = sweep.wait(ids, executor, timeout=600)
    assert final == {ids[0]: "FAILED", ids[1]: "DONE"}
    error = jobs.get_job(ids[0]).error
    assert error.startswith("interrupted: Ray lost the worker or node running it, and on its one retry too")
    attempts = db_runs.list_runs(env_store, method="autoencoder")
    assert sorted(r.status for r in attempts) == ["FAILED", "FAILED"]  # one run per attempt, both ended
