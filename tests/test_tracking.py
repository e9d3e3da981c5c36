import shutil
from pathlib import Path

import numpy as np
import pytest

from db import runs as db_runs
from db.store import Store
from engine import tracking
from engine.artifacts import RunArrays, load_predictions, predictions_path


def _tracker(**kw):
    return tracking.RunTracker(
        dataset="toy",
        method="vae",
        preset="smoke",
        params={"epochs": 1},
        seed=0,
        image_size=16,
        device="cpu",
        **kw,
    )


def _arrays(n=4, d=3):
    rng = np.random.default_rng(0)
    return RunArrays(
        names=[f"test/x/{i}.png" for i in range(n)],
        labels=np.array([0, 0, 1, 1][:n]),
        defect_types=["good", "good", "crack", "crack"][:n],
        scores=rng.random(n),
        scores_normalized=rng.random(n),
        embeddings=rng.random((n, d)),
        centroid=np.zeros(d),
        train_embeddings=rng.random((2, d)),
        train_scores=rng.random(2),
        anomaly_maps=rng.random((n, 16, 16)),
        reconstructions=rng.random((n, 1, 16, 16)),
    )


def test_crash_inside_run_ends_failed_in_both_stores(workbench_env, env_store):
    with pytest.raises(RuntimeError, match="boom"), _tracker() as t:
        raise RuntimeError("boom")
    run = db_runs.get_run(env_store, t.run_id)
    assert run.status == "FAILED"
    assert "boom" in run.error
    mlrun = tracking.mlflow_client().get_run(t.mlflow_run_id)
    assert mlrun.info.status == "FAILED"
    assert "boom" in mlrun.data.tags["workbench.error"]


def test_finish_writes_artifact_rows_and_metrics(workbench_env, env_store):
    arrays = _arrays()
    with _tracker() as t:
        t.log_epoch(1, {"loss": 0.5})
        t.log_epoch(2, {"loss": 0.25})
        t.finish(
            metrics={"image_auroc": 0.75, "pixel_auroc": None, "roc": {"fpr": [0, 1]}},
            arrays=arrays,
            weights={"w": np.zeros(2)},
            notes=["backbone: random"],
            timings={"fit_seconds": 1.5, "predict_seconds": 0.5, "images_per_second": 8.0},
        )
    run = db_runs.get_run(env_store, t.run_id)
    assert run.status == "FINISHED" and run.image_auroc == 0.75 and run.fit_seconds == 1.5
    assert run.metrics["roc"] == {"fpr": [0, 1]}
    rows = db_runs.get_predictions(env_store, t.run_id)
    assert [r.image_name for r in rows] == arrays.names
    loaded = load_predictions(run)
    assert loaded.get("anomaly_maps").shape == (4, 16, 16)
    np.testing.assert_allclose(loaded.get("embeddings")[2], arrays.embeddings[2], atol=1e-3)  # float16
    np.testing.assert_allclose(loaded.get("reconstructions"), arrays.reconstructions, atol=1 / 255)
    assert loaded.get("attentions") is None
    client = tracking.mlflow_client()
    history = client.get_metric_history(t.mlflow_run_id, "train_loss")
    assert [m.value for m in sorted(history, key=lambda m: m.step)] == [0.5, 0.25]
    assert client.get_run(t.mlflow_run_id).data.metrics["image_auroc"] == 0.75
    # each fact once: the metrics are in `runs.metrics`, not in an artifact as well
    assert {f.path for f in client.list_artifacts(t.mlflow_run_id)} == {"predictions.npz", "model"}


def test_a_tracker_writes_nothing_until_it_is_entered(workbench_env, env_store):
    tracker = _tracker()
    assert tracker.run_id is None and db_runs.list_runs(env_store) == []
    with tracker:
        assert db_runs.get_run(env_store, tracker.run_id).status == "RUNNING"
        assert db_runs.get_run(env_store, tracker.run_id).worker_id == tracker.holder.name
        assert tracker.holder.held() == [f"run-{tracker.run_id}"]
    assert tracker.holder.held() == []


def _finished_run():
    with _tracker() as t:
        t.finish(metrics={"image_auroc": 0.5}, arrays=_arrays(), weights=None, notes=[], timings={})
    return db_runs.get_run(Store.at(), t.run_id)


def test_store_keeps_no_local_path_and_reads_mlflows_own_copy(workbench_env):
    run = _finished_run()
    assert run.predictions_path is None  # nothing host-bound in the store: MLflow says where the file is
    artifact_uri = tracking.mlflow_client().get_run(run.mlflow_run_id).info.artifact_uri
    path = predictions_path(run)
    assert path.as_uri() == f"{artifact_uri}/predictions.npz"  # read in place, not copied
    assert not (Path(workbench_env["WORKBENCH_DATA_DIR"]) / ".cache").exists()
    assert load_predictions(run).get("scores").shape == (4,)


def test_a_path_the_store_names_is_relative_to_the_data_dir(workbench_env, env_store):
    run = _finished_run()
    data_dir = Path(workbench_env["WORKBENCH_DATA_DIR"])
    (data_dir / "moved").mkdir(parents=True)
    shutil.copy(predictions_path(run), data_dir / "moved" / "p.npz")
    db_runs.update_run(env_store, run.id, predictions_path="moved/p.npz")
    assert predictions_path(db_runs.get_run(env_store, run.id)) == data_dir / "moved" / "p.npz"
    db_runs.update_run(
        env_store, run.id, predictions_path="/no/such/file.npz"
    )  # an older row from another machine
    assert predictions_path(db_runs.get_run(env_store, run.id)).name == "predictions.npz"


def test_failed_download_says_which_run_and_leaves_no_folder(workbench_env, env_store):
    run = _finished_run()
    db_runs.update_run(
        env_store, run.id, predictions_path=None, mlflow_run_id="0" * 32
    )  # an MLflow run that is not there
    cache = Path(workbench_env["WORKBENCH_DATA_DIR"]) / ".cache" / "predictions"
    with pytest.raises(FileNotFoundError, match=f"run {run.id}: its predictions could not be fetched"):
        predictions_path(db_runs.get_run(env_store, run.id))
    assert list(cache.iterdir()) == []  # no empty temp folder left behind
