"""What a job's Ray task asks for (the preflight's memory estimate, a GPU share by method and preset) and how its
worker finds the store's password without Ray carrying it; no cluster needed."""

from __future__ import annotations

import pytest

from engine.executors.ray_tasks import Capacity, ask_for, on_this_worker, without_password
from engine.resources import dataset_size, gpu_share, memory_need
from engine.runconfig import RunConfig

GIB = 2**30
ROOMY = Capacity(memory=64 * GIB, gpus=0.0)


@pytest.mark.parametrize(
    ("url", "public"),
    [
        (
            "postgresql+psycopg://wb:s3cr%40t@db:5432/wb?sslmode=require",
            "postgresql+psycopg://wb@db:5432/wb?sslmode=require",
        ),
        ("postgresql+psycopg://wb@db/wb", "postgresql+psycopg://wb@db/wb"),
        ("http://ann:pw@mlflow:5000", "http://ann@mlflow:5000"),
        ("sqlite:////srv/workbench.db", "sqlite:////srv/workbench.db"),
    ],
)
def test_a_url_loses_its_password_and_nothing_else(url, public):
    assert without_password(url) == public


def test_a_worker_takes_the_password_from_its_own_environment_for_the_same_store_only(monkeypatch):
    monkeypatch.setenv("WORKBENCH_DB_URL", "postgresql+psycopg://wb:secret@db:5432/wb")
    assert on_this_worker("postgresql+psycopg://wb@db:5432/wb", "WORKBENCH_DB_URL").endswith(
        "wb:secret@db:5432/wb"
    )
    other = "postgresql+psycopg://wb@other:5432/wb"
    assert on_this_worker(other, "WORKBENCH_DB_URL") == other  # libpq's password file, if any, then
    monkeypatch.delenv("WORKBENCH_DB_URL")
    assert on_this_worker(other, "WORKBENCH_DB_URL") == other


def test_a_task_declares_the_memory_the_preflight_estimates(workbench_env, toy_folder):
    config = RunConfig(str(toy_folder), "autoencoder", "cpu", image_size=64)
    size = dataset_size(config.dataset)
    expected = memory_need(size, config.dataset, 64, 32).bytes  # the cpu preset's batch size
    assert ask_for(config, None, ROOMY).memory == int(expected)
    assert ask_for(config, None, ROOMY).gpus == 0.0  # a cluster without GPUs


@pytest.mark.parametrize(
    ("method", "preset", "device", "share"),
    [
        ("autoencoder", "smoke", "auto", 0.0),
        ("padim", "cpu", "auto", 0.0),
        ("patchcore", "paper", "auto", 0.0),
        ("autoencoder", "cpu", "auto", 0.5),
        ("vae", "paper", "auto", 1.0),
        ("vae", "paper", "cpu", 0.0),
        ("autoencoder", "smoke", "cuda", 0.5),
    ],
)
def test_a_gpu_share_by_method_and_preset(workbench_env, toy_folder, method, preset, device, share):
    assert gpu_share(method, preset, device) == share
    config = RunConfig(str(toy_folder), method, preset, image_size=32, device=device)
    assert ask_for(config, None, Capacity(memory=64 * GIB, gpus=1.0)).gpus == share


def test_a_job_no_node_can_hold_is_refused_in_one_sentence(workbench_env, toy_folder):
    big = RunConfig(
        str(toy_folder), "autoencoder", "smoke", image_size=1024, overrides=(("batch_size", "64"),)
    )
    with pytest.raises(ValueError, match=r"needs about 6\d\.\d GiB .* the largest Ray node offers 64\.0 GiB"):
        ask_for(big, None, ROOMY)
    cuda = RunConfig(str(toy_folder), "autoencoder", "smoke", image_size=32, device="cuda")
    with pytest.raises(ValueError, match="no node of the Ray cluster has a GPU"):
        ask_for(cuda, None, ROOMY)


def test_queuing_checks_this_machines_memory_only_when_the_job_runs_here(
    workbench_env, toy_folder, monkeypatch
):
    from engine import jobs
    from engine.resources import ResourceError, available_bytes

    huge = RunConfig(
        str(toy_folder), "autoencoder", "smoke", image_size=1024, overrides=(("batch_size", "1024"),)
    )
    size = dataset_size(huge.dataset)
    assert memory_need(size, huge.dataset, 1024, 1024).bytes > available_bytes()  # more than this machine has
    monkeypatch.setenv("WORKBENCH_EXECUTOR", "local")
    with pytest.raises(ResourceError, match="this run needs about .* but this machine has"):
        jobs.enqueue(huge)
    assert jobs.list_jobs() == []
    monkeypatch.setenv("WORKBENCH_EXECUTOR", "ray")  # a node of the cluster runs it and checks its own memory
    job_id = jobs.enqueue(huge)
    assert [(j.id, j.status) for j in jobs.list_jobs()] == [(job_id, "QUEUED")]
    bad = RunConfig(str(toy_folder), "autoencoder", "smoke", image_size=32, overrides=(("batch_size", "0"),))
    with pytest.raises(ValueError, match="batch_size"):  # parameters are still checked where it is queued
        jobs.enqueue(bad)
