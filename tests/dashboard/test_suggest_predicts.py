"""Suggest next scores images added after the latest runs by predicting with those runs' saved models: no job is
queued, the new image gets the run's own score of it, and a run that cannot be rebuilt is skipped with why."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from db import datasets as db_datasets
from db import runs as db_runs
from db.store import Store
from engine import jobs
from engine.data.additions import add_test_images
from engine.data.importer import import_dataset
from engine.run import train_and_evaluate
from engine.runconfig import RunConfig
from engine.saved_model import load_saved_model
from tests.synthetic_mvtec import make_mvtec_folder, normal_image, png_bytes

pytestmark = pytest.mark.slow  # AppTest runs of the Label page scoring with trained runs

PAGE = "dashboard/pages/label.py"
NEW = "test/unlabeled/fresh.png"


@pytest.fixture
def toy(fresh_env, tmp_path):
    import_dataset(
        make_mvtec_folder(tmp_path / "src", n_train=8, n_good=3, defects={"square": 3}, size=32), "toy"
    )
    return db_datasets.get_dataset(Store.at(), "toy")


def _why(at) -> str:
    return next(m.value for m in at.markdown if m.value.startswith("**Why suggested:**"))


def test_score_new_images_predicts_with_saved_runs_and_queues_nothing(toy, app):
    run_id = train_and_evaluate(RunConfig("toy", "autoencoder", "smoke", image_size=32)).run_id
    old = db_runs.create_run(  # a finished run with scores but no model to rebuild, as older runs are
        Store.at(), dataset_name="toy", method="vae", preset="smoke", params={}, seed=0, image_size=32
    )
    db_runs.add_predictions(Store.at(), old, db_runs.get_predictions(Store.at(), run_id))
    db_runs.update_run(Store.at(), old, status="FINISHED")
    new = png_bytes(normal_image(np.random.default_rng(3), 32, 3))
    add_test_images("toy", [("fresh.png", new)])

    at = app(PAGE, dataset="toy", user="ann")
    at.selectbox(key="label_order").select("suggest next: methods disagree").run()
    assert not at.exception
    assert "1 image(s) here were added after the latest runs" in at.info[0].value
    at.button(key="score_new_images").click().run()
    assert not at.exception
    assert jobs.list_jobs() == []  # predicted, not retrained
    message = at.info[0].value
    assert f"run #{run_id} (autoencoder) scored 1" in message
    assert f"run {old} has no MLflow record" in message and "(skipped)" in message
    assert any("vae leaves out the new images" in c.value for c in at.caption)
    assert not any("added after the latest runs" in i.value for i in at.info)  # nothing left to score

    model = load_saved_model(run_id)
    expected = float(
        model.normalize(model.score(model.prepare([Image.open(io.BytesIO(new))])).score.numpy())[0]
    )
    at.selectbox(key="label_jump").select(NEW).run()
    assert f"run #{run_id} (autoencoder) {expected:.2f}" in _why(at)
    methods = next(m.value for m in at.markdown if m.value.startswith("**Methods:**"))
    assert (
        f"mean normalised score {expected:.2f}, spread 0.00 over 1 method(s)" in methods
    )  # ranked as scored
