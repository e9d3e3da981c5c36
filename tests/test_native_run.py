"""Runs at native resolution: the memory estimate follows streaming (batch and model, not the training set), the
CLI trains at --preset native and stores maps at the image's own size, and a saved tiled run reloaded from its
model file scores its test images as recorded."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from db import runs as db_runs
from engine import cli
from engine.artifacts import load_predictions
from engine.batch_images import batched, dataset_sources, read_sources
from engine.methods import get_method
from engine.methods.params import make_params
from engine.resources import DatasetSize, MemoryNeed, dataset_size, memory_need
from engine.run import train_and_evaluate
from engine.runconfig import RunConfig
from engine.saved_model import load_saved_model
from tests.synthetic_mvtec import make_sized_folder

SMALL = (
    "--set",
    "tile=128",
    "--set",
    "tile_stride=128",
    "--set",
    "weights=random",
    "--set",
    "d=16",
    "--set",
    "batch_size=8",
)


def test_memory_estimate_grows_with_batch_and_model_not_with_training_images(tmp_path):
    padim = get_method("padim")
    few = DatasetSize(images=200, channels=1, test_images=100, test_pixels=100 * 640 * 640)
    many = dataclasses.replace(few, images=20_000)  # a hundred times the training images, same test set
    need = memory_need(few, "pcb", 0, 32, tile=224)
    assert memory_need(many, "pcb", 0, 32, tile=224).bytes == need.bytes  # the training split streams
    assert memory_need(few, "pcb", 0, 64, tile=224).bytes > need.bytes  # a bigger batch of tiles
    small, big = (padim.memory_bytes(make_params(padim, "native", {"d": d}), 1, 224) for d in ("16", "100"))
    assert (
        dataclasses.replace(need, model_bytes=big).bytes > dataclasses.replace(need, model_bytes=small).bytes
    )
    per_tile = padim.memory_bytes(make_params(padim, "native", {"tile_gaussian": "per_tile"}), 1, 224)
    assert per_tile > big
    assert need.describe() == "200 images at their own size, tiles of 224 px, batch size 32"
    # a square size keeps its old meaning: every kept map at that size, the batch at that size
    assert MemoryNeed(300, 3, 256, 32).describe() == "300 images at 256 px, batch size 32"
    # the test images' pixels come from the headers of a folder at native size
    root = make_sized_folder(tmp_path / "toy", [(200, 300)], n_train=2, n_test=1)
    size = dataset_size(str(root))
    assert (size.images, size.test_images, size.test_pixels) == (4, 2, 2 * 200 * 300)


@pytest.mark.slow  # a native run: a backbone over every tile of full-size images
def test_cli_trains_at_native_preset_and_stores_maps_at_the_images_own_size(
    tmp_path, workbench_env, env_store, capsys
):
    root = make_sized_folder(tmp_path / "wide", [(200, 300)], n_train=4, n_test=2)
    code = cli.main(
        ["train", "--dataset", str(root), "--method", "padim", "--preset", "native", *SMALL, "--json"]
    )
    assert code == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    run = db_runs.get_run(env_store, summary["run_id"])
    assert run.status == "FINISHED" and run.preset == "native" and run.image_size == 0
    predictions = load_predictions(run)
    assert predictions.get("anomaly_maps").shape == (4, 200, 300)  # the image's own 300 x 200 px
    assert predictions.get("masks").shape == (4, 200, 300)
    assert summary["pixel_auroc"] is not None


@pytest.mark.slow  # a native run, then every tile scored again from the saved model
@pytest.mark.parametrize(
    ("method", "extra"),
    [("patchcore", ()), ("padim", (("tile_gaussian", "per_tile"),))],
)
def test_a_saved_tiled_run_scores_its_test_images_as_recorded(
    method, extra, tmp_path, workbench_env, env_store
):
    root = make_sized_folder(tmp_path / "wide", [(200, 300)], n_train=4, n_test=2)
    overrides = (("tile", "128"), ("tile_stride", "96"), ("weights", "random"), ("batch_size", "8"), *extra)
    if method == "padim":
        overrides += (("d", "16"),)
    result = train_and_evaluate(RunConfig(str(root), method, "native", overrides=overrides))
    model = load_saved_model(result.run_id)
    assert model.image_size == 0 and model.spec["tiling"]["tile"] == 128
    assert model.method.tiler is not None
    names, scores, maps = [], [], []
    items = list(read_sources(dataset_sources(str(root))))
    for batch in batched(items, 3):  # other batches than the run's: tiles are scored alike in any batch
        pred = model.score(model.prepare([item.image for item in batch]))
        names += [item.name for item in batch]
        scores.append(pred.score.numpy())
        maps.append(pred.anomaly_map.numpy())
    recorded = load_predictions(db_runs.get_run(env_store, result.run_id))
    assert names == list(recorded.get("names"))
    np.testing.assert_allclose(np.concatenate(scores), recorded.get("scores"), rtol=0, atol=1e-5)
    maps = np.concatenate(maps)
    assert maps.shape == (4, 200, 300)
    stored = recorded.get("anomaly_maps").astype(np.float32)  # float16 in the artifact
    np.testing.assert_allclose(maps, stored, rtol=2e-3, atol=1e-3 * np.abs(maps).max())
