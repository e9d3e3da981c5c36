"""Runs recorded through a real `mlflow server` with proxied artifacts: a job run as a Ray task writes its
artifacts through the server, and the dashboard's read path gets them back."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from db import runs as db_runs
from engine import jobs, sweep, tracking
from engine.artifacts import load_predictions, predictions_path
from engine.runconfig import RunConfig


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def mlflow_server(tmp_path):
    port = _free_port()
    artifacts = tmp_path / "server-artifacts"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mlflow",
            "server",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
            "--backend-store-uri",
            f"sqlite:///{tmp_path / 'server.db'}",
            "--serve-artifacts",
            "--artifacts-destination",
            str(artifacts),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"},
        start_new_session=True,
    )
    uri = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{uri}/health", timeout=2):
                break
        except OSError:
            if proc.poll() is not None:
                pytest.fail(f"mlflow server exited: {proc.stderr.read()[-2000:]}")
            time.sleep(0.5)
    else:
        pytest.fail("mlflow server did not answer within 120 s")
    yield uri, artifacts
    os.killpg(proc.pid, 15)
    proc.wait(timeout=30)


def test_a_ray_task_records_through_the_server_and_the_dashboard_reads_it(
    workbench_env, env_store, monkeypatch, mlflow_server, toy_folder, ray_cluster
):
    from engine.executors.ray_dispatch import RayExecutor

    uri, artifacts = mlflow_server
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    ray_cluster(head_cpus=1)  # a one-node cluster of this test; the dispatcher runs its task
    ids = sweep.enqueue_sweep([RunConfig(str(toy_folder), "autoencoder", "smoke", image_size=32, user="ann")])
    final = sweep.wait(ids, RayExecutor(), timeout=600)
    assert final == {ids[0]: "DONE"}, jobs.get_job(ids[0]).error
    run = db_runs.get_run(env_store, jobs.get_job(ids[0]).run_id)
    assert run.predictions_path is None  # nothing on a local disk: the server holds it
    stored = list(Path(artifacts).rglob("predictions.npz"))
    assert len(stored) == 1  # written through the server into its artifact store
    assert tracking.mlflow_client(uri).get_run(run.mlflow_run_id).data.tags["workbench.user"] == "ann"
    predictions = load_predictions(run, uri)  # what the dashboard's pages call
    cached = predictions_path(run, uri)
    assert cached.parent.parent.name == "predictions"  # downloaded once into the data dir's cache
    assert predictions_path(run, uri) == cached
    assert predictions.get("scores").shape == (6,)
