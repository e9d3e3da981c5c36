"""An image file deleted from the data directory after the import: the job that trains on the dataset fails
with one sentence naming the image, on the Train page too; the traceback goes to the worker's log only."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

from db import datasets as db_datasets
from engine import jobs
from engine.data.importer import import_dataset
from engine.runconfig import RunConfig

PROJECT = Path(__file__).resolve().parents[2]
GONE = "test/good/001.png"
SENTENCE = f"image {GONE} of dataset 'toy' is missing from the data directory"


def test_a_job_on_a_dataset_that_lost_an_image_fails_naming_the_image(
    workbench_env, env_store, toy_folder, engine_cli
):
    import_dataset(toy_folder, "toy")
    (Path(db_datasets.get_dataset(env_store, "toy").root) / GONE).unlink()
    job_id = jobs.enqueue(RunConfig("toy", "autoencoder", "smoke", image_size=32))

    worker = engine_cli("worker", "--once")
    _, log = worker.communicate(timeout=300)
    assert worker.returncode == 0, log

    job = jobs.get_job(job_id)
    assert job.status == "FAILED"
    assert job.error.startswith(SENTENCE), job.error
    assert "Traceback" not in job.error and 'File "/' not in job.error, job.error
    assert workbench_env["WORKBENCH_DATA_DIR"] not in job.error  # no server path either
    assert "Traceback" in log and GONE in log  # the details are in the worker's log

    at = AppTest.from_file(str(PROJECT / "dashboard/pages/train.py"), default_timeout=60)
    at.session_state["user"], at.session_state["dataset"] = "tester", "toy"
    at.run()
    assert not at.exception
    shown = [e.value for e in at.error]
    assert len(shown) == 1 and f"Job #{job_id} (autoencoder on toy) failed: {SENTENCE}" in shown[0], shown
    assert not [e for e in at.expander if e.label.startswith("Details of job")]  # nothing more to unfold
    assert not at.code
