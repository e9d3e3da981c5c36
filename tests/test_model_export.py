"""Exported graphs score as the method's `predict` does: ONNX through onnxruntime and OpenVINO IR, at any batch
size; `python -m engine export` (a real process) writes a graph only after checking it on the run's test set,
and refuses what it cannot export in one sentence, writing nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from engine.data.importer import import_dataset
from engine.data.loaders import make_loader
from engine.methods import get_method
from engine.methods.params import make_params
from engine.model_export import run_export
from engine.model_export.graph import EXPORTABLE, UnsupportedExport, export_onnx, export_openvino
from engine.model_export.runtimes import onnx_scorer, openvino_scorer
from engine.run import train_and_evaluate
from engine.runconfig import RunConfig
from engine.saved_model import load_saved_model
from tests.synthetic_mvtec import make_mvtec_folder

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SHAPE = (3, 32, 32)
pytestmark = pytest.mark.slow  # ONNX and OpenVINO conversions, real training, real processes


def smooth_images(n: int, seed: int) -> torch.Tensor:
    """(n, 3, 32, 32) in [0, 1]: a gradient with noise, seeded."""
    g = torch.Generator().manual_seed(seed)
    ramp = torch.linspace(0.2, 0.8, SHAPE[-1])
    return (ramp[None, None, None, :] + 0.05 * torch.randn(n, *SHAPE, generator=g)).clamp(0, 1)


@pytest.mark.parametrize("key", EXPORTABLE)
def test_the_exported_graph_scores_as_predict_at_any_batch_size(key, tmp_path):
    cls = get_method(key)
    method = cls(make_params(cls, "smoke"), SHAPE, seed=0)
    method.fit(make_loader(smooth_images(16, seed=1), batch_size=8))
    onnx_file = export_onnx(method, SHAPE, tmp_path / "graph.onnx")
    runtimes = {
        "onnx": onnx_scorer(onnx_file),
        "openvino": openvino_scorer(export_openvino(onnx_file, tmp_path / "g.xml")),
    }
    images = smooth_images(5, seed=2)
    images[1:3, :, 4:12, 8:16] = 1.0  # two with a bright square: other scores than the rest
    for n in (1, 5):  # exported with a batch of 2: the batch axis is dynamic
        pred = method.predict(images[:n])
        for name, scorer in runtimes.items():
            scores, maps = scorer(images[:n].numpy())
            assert scores.shape == (n,) and maps.shape == (n, 32, 32), name
            np.testing.assert_allclose(scores, pred.score.numpy(), rtol=0, atol=1e-4, err_msg=name)
            np.testing.assert_allclose(maps, pred.anomaly_map.numpy(), rtol=0, atol=1e-4, err_msg=name)
    assert method.predict(images).score[1:3].min() > method.predict(images).score[[0, 3, 4]].max()


@pytest.fixture
def toy_run(workbench_env, tmp_path) -> int:
    """A padim run (smoke, 32 px) on a small dataset imported into the store."""
    folder = make_mvtec_folder(tmp_path / "toy", n_train=8, n_good=4, defects={"square": 4}, size=32)
    import_dataset(folder, "toy")
    return train_and_evaluate(RunConfig("toy", "padim", "smoke", image_size=32)).run_id


def export(run_id: int, fmt: str, out: Path) -> subprocess.CompletedProcess:
    command = ["-m", "engine", "export", "--run", str(run_id), "--format", fmt, "--out", str(out), "--json"]
    return subprocess.run(
        [sys.executable, *command],
        cwd=PROJECT_ROOT,
        env=os.environ.copy(),
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_export_writes_a_checked_graph_that_scores_prepared_files_as_the_run(toy_run, tmp_path):
    model = load_saved_model(toy_run)
    files = sorted((tmp_path / "toy" / "test").rglob("*.png"))
    batch = model.prepare([Image.open(f) for f in files])  # the run's own input pipeline
    expected = model.score(batch).score.numpy()
    for fmt, out, scorer in (
        ("onnx", tmp_path / "out" / "m.onnx", onnx_scorer),
        ("openvino", tmp_path / "out" / "m.xml", openvino_scorer),
    ):
        done = export(toy_run, fmt, out)
        assert done.returncode == 0, done.stderr[-2000:]
        report = json.loads(done.stdout.strip().splitlines()[-1])
        check = report["check"]
        assert report["passed"] and check["images"] == 8 and check["max_score_difference"] <= 1e-4
        assert check["auroc_exported"] == check["auroc_pytorch"] is not None
        note = json.loads(Path(f"{out}.json").read_text())
        assert note["input"]["shape"] == ["N", 3, 32, 32] and note["threshold"] == pytest.approx(
            model.threshold
        )
        np.testing.assert_allclose(scorer(out)(batch.numpy())[0], expected, rtol=0, atol=1e-4)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "m.bin",
        "m.onnx",
        "m.onnx.json",
        "m.xml",
        "m.xml.json",
    ]

    done = export(toy_run, "onnx", tmp_path / "out" / "m.onnx")  # never over an earlier export
    assert done.returncode == 2 and "m.onnx already exists" in done.stderr


def test_a_failed_check_or_a_method_without_export_writes_nothing(toy_run, tmp_path, monkeypatch):
    out = tmp_path / "out" / "m.onnx"
    monkeypatch.setattr(run_export, "SCORE_ATOL", -1.0)  # no export can pass
    with pytest.raises(
        ValueError, match=r"run \d+'s onnx export does not score its test images .* nothing was written"
    ):
        run_export.export_run(toy_run, "onnx", out)
    assert list(out.parent.iterdir()) == []  # neither the graph nor its working folder

    plain = train_and_evaluate(RunConfig("toy", "autoencoder", "smoke", image_size=32)).run_id
    with pytest.raises(
        UnsupportedExport,
        match=r"^method 'autoencoder' cannot be exported: .*; runs of padim, patchcore can$",
    ):
        run_export.export_run(plain, "onnx", out)
    with pytest.raises(
        UnsupportedExport, match=r"unknown export format 'tflite'; choose from \['onnx', 'openvino'\]"
    ):
        run_export.export_run(toy_run, "tflite", out)
    with pytest.raises(ValueError, match=r"an export as openvino is written to a \.xml file"):
        run_export.export_run(toy_run, "openvino", out)
    assert list(out.parent.iterdir()) == []
