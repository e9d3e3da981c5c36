"""A run in MLflow is named with the number the dashboard shows ("#12 autoencoder on toy") and "Created by" the
person who queued it (MLflow's mlflow.user tag)."""

from engine.data.importer import import_dataset
from engine.run import train_and_evaluate
from engine.runconfig import RunConfig
from engine.tracking import mlflow_client
from tests.synthetic_mvtec import make_mvtec_folder


def test_an_mlflow_run_carries_its_number_and_its_user(workbench_env, env_store, tmp_path):
    from db import runs as db_runs

    import_dataset(
        make_mvtec_folder(tmp_path / "src", n_train=8, n_good=2, defects={"dot": 2}, size=32), "toy"
    )
    result = train_and_evaluate(RunConfig("toy", "autoencoder", "smoke", image_size=32, user="ann"))
    mlflow_run = mlflow_client().get_run(db_runs.get_run(env_store, result.run_id).mlflow_run_id)
    assert mlflow_run.info.run_name == f"#{result.run_id} autoencoder on toy"
    assert mlflow_run.data.tags["mlflow.runName"] == f"#{result.run_id} autoencoder on toy"
    assert mlflow_run.data.tags["mlflow.user"] == "ann" and mlflow_run.info.user_id == "ann"
    assert mlflow_run.data.tags["workbench.run_id"] == str(result.run_id)
