"""Integration: the CLI trains every method at the smoke preset on a real dataset and records it in both stores."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from db import runs as db_runs
from engine import cli, tracking
from engine.artifacts import load_predictions
from engine.data import load_dataset
from engine.methods import METHODS

PIPED = "piped/pa_bdp01_tl"


@pytest.mark.parametrize("method", sorted(METHODS))
def test_smoke_train_records_run_in_both_stores(method, shared_datasets, workbench_env, env_store, capsys):
    folder = shared_datasets / PIPED
    code = cli.main(["train", "--dataset", str(folder), "--method", method, "--preset", "smoke", "--json"])
    out = capsys.readouterr().out.strip().splitlines()
    assert code == 0
    summary = json.loads(out[-1])
    for key in (
        "run_id",
        "method",
        "dataset",
        "image_auroc",
        "pixel_auroc",
        "fit_seconds",
        "predict_seconds",
        "images_per_second",
        "device",
    ):
        assert key in summary, key
    assert summary["method"] == method and summary["device"] == "cpu"
    assert 0.0 <= summary["image_auroc"] <= 1.0
    assert summary["pixel_auroc"] is not None  # PIPED has masks

    run = db_runs.get_run(env_store, summary["run_id"])
    assert run.status == "FINISHED" and run.method == method
    test_split = load_dataset(str(folder)).test
    rows = db_runs.get_predictions(env_store, run.id)
    assert sorted(r.image_name for r in rows) == sorted(test_split.names)
    labels = dict(zip(test_split.names, test_split.labels.tolist(), strict=True))
    assert all(r.label == labels[r.image_name] for r in rows)

    mlrun = tracking.mlflow_client().get_run(run.mlflow_run_id)
    assert mlrun.info.status == "FINISHED"
    assert mlrun.data.params["method"] == method
    assert mlrun.data.metrics["image_auroc"] == pytest.approx(summary["image_auroc"])
    preds = load_predictions(run)
    assert preds.get("anomaly_maps").shape[0] == len(test_split)


def test_cli_entry_point_json_last_line(shared_datasets, workbench_env):
    folder = shared_datasets / PIPED
    env = {**os.environ, **workbench_env}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "engine",
            "train",
            "--dataset",
            str(folder),
            "--method",
            "autoencoder",
            "--preset",
            "smoke",
            "--json",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["method"] == "autoencoder" and summary["pixel_auroc"] is not None
    assert "%" in proc.stderr  # the progress bar went to stderr


@pytest.mark.parametrize(
    "argv, message",
    [
        (["train", "--dataset", "mnist", "--method", "nope"], "unknown method 'nope'; choose from"),
        (["train", "--dataset", "no-such-set", "--method", "vae"], "no-such-set"),
        (["train", "--dataset", "mnist", "--method", "vae", "--set", "epochs"], "--set expects key=value"),
        (["train", "--dataset", "mnist", "--method", "vae", "--set", "bogus=1"], "unknown parameter 'bogus'"),
        (["train", "--dataset", "mnist", "--method", "vae", "--set", "epochs=abc"], "bad value for 'epochs'"),
        (["train", "--dataset", "/no/such/folder", "--method", "vae"], "/no/such/folder"),
    ],
)
def test_cli_bad_input_names_the_problem(argv, message, workbench_env, capsys):
    assert cli.main(argv) == 2
    assert message in capsys.readouterr().err


def test_methods_lists_every_key(capsys):
    assert cli.main(["methods"]) == 0
    assert capsys.readouterr().out.split() == list(METHODS)
