"""A finished run is a model: rebuilt from its record it scores images exactly as the run did, and
`python -m engine predict` (a real process) scores a folder of mixed files into a CSV row per file and a map
per scored image."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from db import runs as db_runs
from db.store import Store
from engine.artifacts import load_predictions
from engine.batch_images import batched, dataset_sources, read_sources
from engine.methods import METHODS, get_method
from engine.methods.params import make_params
from engine.metrics import DETECTION_QUANTILE
from engine.model_file import FORMAT
from engine.run import train_and_evaluate
from engine.runconfig import RunConfig
from engine.saved_model import load_saved_model
from tests.slow import marked_slow

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def recorded(run_id: int) -> dict[str, np.ndarray]:
    pred = load_predictions(db_runs.get_run(Store.at(), run_id))
    return {
        key: pred.get(key) for key in ("names", "scores", "scores_normalized", "anomaly_maps", "train_scores")
    }


# a recorded run each: the inner loop reloads two quick methods, CI every one
@pytest.mark.parametrize("key", marked_slow(METHODS, slow=set(METHODS) - {"autoencoder", "deep_svdd"}))
def test_a_reloaded_run_scores_its_test_images_as_recorded(key, workbench_env, toy_folder):
    result = train_and_evaluate(RunConfig(str(toy_folder), key, "smoke", image_size=32))
    model = load_saved_model(result.run_id)
    assert (
        model.spec["method"] == key
        and model.method_key == key
        and (model.channels, model.image_size) == (3, 32)
    )
    assert all(not m.training for m in vars(model.method).values() if isinstance(m, nn.Module))
    names, scores, maps = [], [], []
    items = list(read_sources(dataset_sources(str(toy_folder))))  # the files, read as an import reads them
    for batch in batched(items, model.method.params.batch_size):
        pred = model.score(model.prepare([item.image for item in batch]))
        names += [item.name for item in batch]
        scores.append(pred.score.numpy())
        maps.append(pred.anomaly_map.numpy())
    run = recorded(result.run_id)
    assert names == list(run["names"])
    scores = np.concatenate(scores)
    np.testing.assert_allclose(scores, run["scores"], rtol=0, atol=1e-5)
    np.testing.assert_allclose(model.normalize(scores), run["scores_normalized"], rtol=0, atol=1e-5)
    maps = np.concatenate(maps)
    np.testing.assert_allclose(
        maps, run["anomaly_maps"].astype(np.float32), rtol=2e-3, atol=1e-3 * np.abs(maps).max()
    )
    assert model.threshold == pytest.approx(float(np.quantile(run["train_scores"], DETECTION_QUANTILE)))


@pytest.mark.slow  # a latent search per image, five times
def test_anogan_scores_an_image_the_same_wherever_it_sits_in_a_batch():
    """Its latent search starts from one seeded code for every image, not from the image's row in the batch."""
    cls = get_method("anogan")
    method = cls(make_params(cls, "smoke"), (1, 32, 32), seed=3)
    method.fit([torch.rand(8, 1, 32, 32, generator=torch.Generator().manual_seed(1))])
    images = torch.rand(4, 1, 32, 32, generator=torch.Generator().manual_seed(2))
    together = method.predict(images)
    for part in ("score", "embedding"):  # the embedding is the searched code itself
        alone = torch.cat([getattr(method.predict(images[i : i + 1]), part) for i in range(4)])
        torch.testing.assert_close(alone, getattr(together, part), rtol=0, atol=1e-5)
        flipped = getattr(method.predict(images.flip(0)), part).flip(0)
        torch.testing.assert_close(flipped, getattr(together, part), rtol=0, atol=1e-5)


def _save(image: Image.Image, path: Path, **kw) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, **kw)


def mixed_folder(root: Path) -> tuple[list[str], list[str]]:
    """Good images of every kind an import accepts, and files it refuses; their names."""
    rng = np.random.default_rng(0)
    rgb = Image.fromarray(rng.integers(0, 255, (40, 48, 3), dtype=np.uint8))
    _save(rgb, root / "rgb.png")
    _save(rgb.convert("L"), root / "gray.png")
    _save(rgb, root / "=1+1.png")  # a name a spreadsheet would run as a formula
    _save(Image.fromarray(rng.integers(0, 65535, (36, 36), dtype=np.uint16)), root / "deep16.png")
    _save(rgb.convert("CMYK"), root / "cmyk.jpg")
    _save(rgb.convert("P"), root / "palette.png")
    _save(rgb, root / "sub" / "nested.png")
    (root / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)
    _save(Image.new("L", (10_000, 10)), root / "huge.png")
    (root / "notes.txt").write_text("not an image")
    (root / ".hidden.png").write_bytes(b"ignored")
    good = ["rgb.png", "gray.png", "=1+1.png", "deep16.png", "cmyk.jpg", "palette.png", "sub/nested.png"]
    return good, ["corrupt.png", "huge.png", "notes.txt"]


def predict_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "engine", "predict", *args],
        cwd=PROJECT_ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.slow  # `python -m engine predict` in a real process
def test_cli_scores_a_folder_of_mixed_files_and_a_dataset(workbench_env, toy_folder, tmp_path):
    run_id = train_and_evaluate(RunConfig(str(toy_folder), "autoencoder", "smoke", image_size=32)).run_id
    good, bad = mixed_folder(tmp_path / "incoming")
    out = tmp_path / "scored"
    done = predict_cli(
        workbench_env, "--run", str(run_id), str(tmp_path / "incoming"), "--out", str(out), "--json"
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    threshold = load_saved_model(run_id).threshold
    text = (out / "predictions.csv").read_text()
    rows = {row["image"].removeprefix("'"): row for row in csv.DictReader(io.StringIO(text))}
    assert sorted(rows) == sorted(good + bad) and len(text.strip().splitlines()) == 1 + len(good) + len(bad)
    assert "'=1+1.png" in text  # neutralised for spreadsheets
    for name in bad:
        assert (
            rows[name]["error"] and rows[name]["score"] == rows[name]["decision"] == rows[name]["map"] == ""
        )
    assert "10000x10" in rows["huge.png"]["error"] and "cannot decode" in rows["corrupt.png"]["error"]
    assert "not an image file" in rows["notes.txt"]["error"]
    for name in good:
        row = rows[name]
        score = float(row["score"])
        assert row["error"] == "" and np.isfinite(score) and 0 <= float(row["score_normalized"]) <= 1
        assert row["decision"] == ("anomalous" if score > threshold else "normal")
        with Image.open(out / row["map"]) as picture:
            assert picture.size == (32, 32) and picture.mode == "RGB"
    assert summary == {
        "run_id": run_id,
        "n_scored": len(good),
        "n_failed": len(bad),
        "n_anomalous": sum(rows[n]["decision"] == "anomalous" for n in good),
        "out": str(out),
        "threshold": pytest.approx(threshold),
    }
    assert f"{len(good) + len(bad)}/{len(good) + len(bad)}" in done.stderr  # the progress bar
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".scored")]  # no work folder left

    done = predict_cli(
        workbench_env, "--run", str(run_id), "--dataset", str(toy_folder), "--out", str(tmp_path / "ds")
    )
    assert done.returncode == 0, done.stderr
    with open(tmp_path / "ds" / "predictions.csv", newline="") as handle:
        scored = {row["image"]: float(row["score"]) for row in csv.DictReader(handle)}
    run = recorded(run_id)
    assert list(scored) == list(run["names"])
    np.testing.assert_allclose(list(scored.values()), run["scores"], rtol=0, atol=1e-5)


def test_the_model_file_holds_what_rebuilds_the_run(workbench_env, env_store, toy_folder):
    import tempfile

    from engine import mlflow_store

    run_id = train_and_evaluate(RunConfig(str(toy_folder), "padim", "smoke", image_size=32)).run_id
    with tempfile.TemporaryDirectory() as tmp:
        local = mlflow_store.client().download_artifacts(
            db_runs.get_run(env_store, run_id).mlflow_run_id, "model/weights.pt", tmp
        )
        content = torch.load(local, weights_only=True)
    assert content["format"] == FORMAT and content["version"] == 1
    spec = content["spec"]
    assert (spec["method"], spec["preset"], spec["image_size"], spec["channels"], spec["seed"]) == (
        "padim",
        "smoke",
        32,
        3,
        0,
    )
    assert (
        spec["params"]["d"] == 32
        and spec["input"]["color"] == "rgb"
        and spec["torch"] == str(torch.__version__)
    )
    assert spec["backbone"]["name"] == "efficientnet_lite0" and spec["backbone"]["source"] == "random"
    assert set(spec["frozen"]) == {"backbone"}  # not in the state: rebuilt from its seed and checked
    assert {"mean", "precision", "channels", "centroid"} <= set(
        content["state"]
    ) and "backbone" not in content["state"]


def test_a_stored_dataset_is_scored_with_its_unlabeled_images(workbench_env, toy_folder):
    from engine.data.additions import add_test_images
    from engine.data.importer import import_dataset
    from engine.predict import dataset_items
    from tests.synthetic_mvtec import png_bytes

    import_dataset(toy_folder, "toy")
    run_id = train_and_evaluate(RunConfig("toy", "autoencoder", "smoke", image_size=32)).run_id
    add_test_images("toy", [("new.png", png_bytes(np.full((32, 32, 3), 200, dtype=np.uint8)))])
    model = load_saved_model(run_id)
    items, total = dataset_items(model, "toy")
    items = list(items)
    run = recorded(run_id)
    assert total == len(items) == len(run["names"]) + 1
    assert [item.name for item in items if item.name != "test/unlabeled/new.png"] == list(run["names"])
    pred = model.score(model.prepare([item.image for item in items if item.name in set(run["names"])]))
    np.testing.assert_allclose(pred.score.numpy(), run["scores"], rtol=0, atol=1e-5)
