"""A method's `weights` parameter reads only files in the managed folder `weights/` of the data directory.

The first fault round's hole: `--set weights=/etc/passwd` (or Ray's token file, or a path that does not exist)
told in the run's notes which files exist and, for the token, its first byte. Now anything outside the managed
folder is refused before the run, in one sentence that is the same whether or not the file exists."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from db import runs as db_runs
from db.store import Store
from engine import jobs, tracking
from engine.methods import get_method
from engine.methods.components.backbone import load_backbone, save_backbone
from engine.methods.components.weights import managed_weights_dir
from engine.methods.params import make_params
from engine.runconfig import RunConfig

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def _train(
    env: dict[str, str], dataset: Path, weights: str, method: str = "padim"
) -> subprocess.CompletedProcess:
    """`python -m engine train` as its own process, as a user would run it."""
    return subprocess.run(
        [sys.executable, "-m", "engine", "train", "--dataset", str(dataset), "--method", method]
        + ["--preset", "smoke", "--image-size", "32", "--set", f"weights={weights}", "--json"],
        cwd=PROJECT_ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=300,
    )


def _nothing_recorded() -> None:
    assert db_runs.list_runs(Store.at()) == []
    client = tracking.mlflow_client()
    experiments = [e.experiment_id for e in client.search_experiments()]
    assert client.search_runs(experiments) == []


def test_a_server_file_or_a_missing_one_is_refused_alike_before_the_run(workbench_env, toy_folder, tmp_path):
    secret = tmp_path / "home" / ".ray" / "auth_token"  # stands in for any readable server file
    secret.parent.mkdir(parents=True)
    secret.write_text("2" * 64)
    missing = tmp_path / "no" / "such.pt"
    answers = {}
    for path in ("/etc/passwd", str(secret), str(missing)):
        done = _train(workbench_env, toy_folder, path)
        assert done.returncode == 2, done.stderr
        lines = [line for line in done.stderr.splitlines() if line.startswith("error:")]
        assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
        answers[path] = lines[0].replace(repr(path), "PATH")
        assert "managed folder" in lines[0]
        for tell in ("does not exist", "unreadable", "Unsupported operand", "IndexError", "root:"):
            assert tell not in done.stderr
    assert len(set(answers.values())) == 1, answers  # nothing tells an existing file from a missing one
    _nothing_recorded()


def test_a_symlink_in_the_managed_folder_that_leads_out_is_refused(workbench_env, toy_folder):
    folder = managed_weights_dir()
    folder.mkdir(parents=True)
    (folder / "escape.pt").symlink_to("/etc/passwd")
    with pytest.raises(ValueError, match="is not allowed.*managed folder"):
        make_params(get_method("padim"), "smoke", {"weights": "escape.pt"})
    with pytest.raises(ValueError, match=r"weights=.\.\./\.\./etc/passwd. is not allowed"):
        make_params(get_method("padim"), "smoke", {"weights": "../../etc/passwd"})


def test_the_queue_refuses_it_too(workbench_env, toy_folder):
    config = RunConfig(str(toy_folder), "patchcore", "smoke", overrides=(("weights", "/etc/passwd"),))
    with pytest.raises(ValueError, match="is not allowed"):
        jobs.enqueue(config)
    assert jobs.list_jobs() == []


def test_a_missing_file_inside_the_managed_folder_is_named_relative_to_it(workbench_env):
    with pytest.raises(ValueError, match=r"weights file mine\.pt is not in the managed folder"):
        make_params(get_method("cutpaste"), "smoke", {"weights": "mine.pt"})


def test_a_backbone_file_in_the_managed_folder_is_used_and_recorded(workbench_env, toy_folder):
    model, _ = load_backbone("efficientnet_lite0", "random")
    path = save_backbone(model, managed_weights_dir() / "line3.pt", origin="test")
    done = _train(workbench_env, toy_folder, "line3.pt")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    params = tracking.mlflow_client().get_run(summary["mlflow_run_id"]).data.params
    assert params["weights"] == f"file:{path.resolve()}"
    assert len(params["weights_sha256"]) == 64
