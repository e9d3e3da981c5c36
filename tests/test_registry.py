"""A run registered in MLflow's Model Registry (`python -m engine register`, a real process) is served by a real
`mlflow models serve -m models:/NAME@champion` that scores posted images as `engine predict` does; the alias
moves to the newer registration, who and when go on the version and on the run's comments, an ensemble is
refused."""

from __future__ import annotations

import base64
import csv
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import datetime
from pathlib import Path

import pytest

from db import comments
from db.store import Store
from engine import ensemble_runs, mlflow_store
from engine.cli import main
from engine.data.importer import import_dataset
from engine.registry import CHAMPION, champion, register_run, registered_name
from engine.run import train_and_evaluate
from engine.runconfig import RunConfig
from tests.synthetic_mvtec import make_mvtec_folder

PROJECT_ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow  # real training, real processes


@pytest.fixture
def toy(workbench_env, tmp_path) -> Path:
    """A small dataset `toy` imported into the store; its folder."""
    folder = make_mvtec_folder(tmp_path / "toy", n_train=8, n_good=3, defects={"square": 3}, size=32)
    import_dataset(folder, "toy")
    return folder


def engine_command(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "engine", *args],
        cwd=PROJECT_ROOT,
        env=os.environ.copy(),
        capture_output=True,
        text=True,
        timeout=600,
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_ping(port: int, server: subprocess.Popen, log: Path, seconds: float = 300) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"mlflow models serve exited with {server.returncode}: {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=2) as reply:
                if reply.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            time.sleep(1)
    pytest.fail(f"mlflow models serve did not answer /ping in {seconds} s: {log.read_text()[-2000:]}")


def test_the_served_champion_scores_images_as_engine_predict(toy, tmp_path):
    run_id = train_and_evaluate(RunConfig("toy", "padim", "smoke", image_size=32)).run_id
    done = engine_command("register", "--run", str(run_id), "--user", "alice")
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"registered as workbench-toy version 1 (alias {CHAMPION}) by alice" in done.stdout

    version = mlflow_store.client().get_model_version_by_alias("workbench-toy", CHAMPION)
    assert int(version.version) == 1 and version.tags["workbench.run_id"] == str(run_id)
    assert version.tags["workbench.registered_by"] == "alice"
    assert datetime.fromisoformat(version.tags["workbench.registered_at"]).year >= 2024
    assert (
        "image AUROC" in version.tags["workbench.image_auroc"]
        and "95% interval" in version.tags["workbench.image_auroc"]
    )
    notes = comments.list_comments(Store.at(), "toy", run_id=run_id)
    assert [(c.author, c.text.startswith("Registered as workbench-toy version 1")) for c in notes] == [
        ("alice", True)
    ]
    assert champion("toy") == run_id and champion("other") is None

    files = [toy / "test" / "good" / "000.png", toy / "test" / "square" / "001.png"]
    done = engine_command("predict", "--run", str(run_id), *map(str, files), "--out", str(tmp_path / "pred"))
    assert done.returncode == 0, done.stderr[-2000:]
    with open(tmp_path / "pred" / "predictions.csv", newline="") as handle:
        expected = list(csv.DictReader(handle))

    port, log = free_port(), tmp_path / "serve.log"
    with open(log, "w") as out:
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "mlflow",
                "models",
                "serve",
                "-m",
                f"models:/workbench-toy@{CHAMPION}",
                "--env-manager",
                "local",
            ]
            + ["--host", "127.0.0.1", "--port", str(port)],
            cwd=tmp_path,  # the code logged with the model, not this checkout, is what it imports
            env={**os.environ, "PYTHONPATH": ""},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_for_ping(port, server, log)
        rows = [{"image": base64.b64encode(f.read_bytes()).decode()} for f in files]
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/invocations",
            json.dumps({"dataframe_records": rows}).encode(),
            {"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=120) as reply:
            served = json.loads(reply.read())["predictions"]
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)
    assert len(served) == 2
    for got, want in zip(served, expected, strict=True):
        assert got["score"] == pytest.approx(float(want["score"]), abs=1e-5)
        assert got["score_normalized"] == pytest.approx(float(want["score_normalized"]), abs=1e-5)
        assert got["decision"] == want["decision"]
        assert len(got["anomaly_map"]) == 32 and len(got["anomaly_map"][0]) == 32
    assert served[1]["score"] > served[0]["score"]  # the defective image scores higher


def test_champion_moves_to_the_newer_run_and_an_ensemble_is_refused(toy, capsys, monkeypatch):
    first = train_and_evaluate(RunConfig("toy", "padim", "smoke", image_size=32)).run_id
    second = train_and_evaluate(RunConfig("toy", "patchcore", "smoke", image_size=32)).run_id
    assert register_run(first, "alice").version == 1 and champion("toy") == first
    moved = register_run(second, "bob")
    assert (moved.name, moved.version, moved.by) == ("workbench-toy", 2, "bob")
    assert champion("toy") == second
    client = mlflow_store.client()
    assert client.get_model_version("workbench-toy", 1).tags["workbench.run_id"] == str(first)  # kept

    combined, _ = ensemble_runs.record([first, second], "mean", author="alice")
    monkeypatch.setenv("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # what the command sets, undone after
    capsys.readouterr()
    assert main(["register", "--run", str(combined), "--user", "carol"]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith(f"error: run {combined} is an ensemble") and error.count("\n") == 0
    assert len(client.search_model_versions("name='workbench-toy'")) == 2 and champion("toy") == second
    assert comments.list_comments(Store.at(), "toy", run_id=combined) == []
    assert registered_name("tire / 2") == "workbench-tire-2"
