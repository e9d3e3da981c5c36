"""`engine export`: a finished run's graph written beside a JSON note on how to feed and read it, only after
the exported graph has scored the run's test images as the method does (every score within SCORE_ATOL +
SCORE_RTOL x |score|, the same image AUROC); files appear whole or not at all."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from db import runs as db_runs
from db.store import Store
from engine.data import load_dataset
from engine.methods.catalog import ENSEMBLE
from engine.metrics import image_auroc
from engine.model_export.graph import (
    INPUT,
    OUTPUTS,
    check_exportable,
    check_format,
    check_graph,
    export_onnx,
    export_openvino,
)
from engine.model_export.runtimes import Scorer, scorer_for
from engine.saved_model import SavedModel, load_saved_model

# |exported - PyTorch| accepted per score: 1e-4, plus 1e-5 of the score. PaDiM's scores reach several hundred on
# real images (pa_flr01_tl: 213-708), where float32 keeps ~5 significant digits across runtimes: measured
# |difference| 1.2e-4 (tire) and 3.8e-4 (pa_flr01_tl) at 224 / 128 px, relative at most 1.7e-6.
SCORE_ATOL = 1e-4
SCORE_RTOL = 1e-5
SUFFIX = {"onnx": ".onnx", "openvino": ".xml"}
NOTE_FORMAT = "anomaly-workbench-export"


@dataclass(frozen=True)
class ExportCheck:
    """The exported graph against the method's `predict` on the same prepared test images."""

    images: int
    max_score_difference: float
    max_relative_difference: float  # |exported - PyTorch| / |PyTorch| (against 1 below 1)
    within_tolerance: bool  # every score within SCORE_ATOL + SCORE_RTOL x |score|
    max_map_difference: float
    auroc_pytorch: float | None
    auroc_exported: float | None

    @property
    def passed(self) -> bool:
        same_auroc = self.auroc_pytorch == self.auroc_exported or (
            None not in (self.auroc_pytorch, self.auroc_exported)
            and abs(self.auroc_pytorch - self.auroc_exported) <= 1e-12
        )
        return self.within_tolerance and same_auroc


@dataclass(frozen=True)
class ExportReport:
    run_id: int
    method: str
    format: str
    files: list[str]  # what was written, the graph first
    check: ExportCheck

    def as_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "passed": self.check.passed}


def check_export(model: SavedModel, scorer: Scorer, images: torch.Tensor, labels: np.ndarray) -> ExportCheck:
    """Score prepared `images` (N, C, H, W) with the method and with the exported graph, batch by batch."""
    batch_size = int(getattr(model.method.params, "batch_size", 32))
    ours, theirs, map_difference = [], [], 0.0
    for start in range(0, len(images), batch_size):
        batch = images[start : start + batch_size]
        pred = model.score(batch)
        scores, maps = scorer(batch.numpy())
        ours.append(pred.score.numpy())
        theirs.append(scores)
        map_difference = max(map_difference, float(np.abs(maps - pred.anomaly_map.numpy()).max()))
    ours_all, theirs_all = np.concatenate(ours).astype(np.float64), np.concatenate(theirs).astype(np.float64)
    difference = np.abs(ours_all - theirs_all)
    return ExportCheck(
        images=len(images),
        max_score_difference=float(difference.max()),
        max_relative_difference=float((difference / np.maximum(np.abs(ours_all), 1.0)).max()),
        within_tolerance=bool((difference <= SCORE_ATOL + SCORE_RTOL * np.abs(ours_all)).all()),
        max_map_difference=map_difference,
        auroc_pytorch=image_auroc(labels, ours_all),
        auroc_exported=image_auroc(labels, theirs_all),
    )


def _note(model: SavedModel, fmt: str, files: list[str], check: ExportCheck) -> dict[str, Any]:
    """What a user of the file needs: the input it takes, what it returns and the run's normal reference."""
    c, s = model.channels, model.image_size
    return {
        "format": NOTE_FORMAT,
        "version": 1,
        "run_id": model.run_id,
        "method": model.method_key,
        "dataset": model.dataset,
        "export_format": fmt,
        "files": files,
        "input": {
            "name": INPUT,
            "shape": ["N", c, s, s],
            "dtype": "float32",
            "pipeline": model.spec["input"],
        },
        "outputs": {OUTPUTS[0]: ["N"], OUTPUTS[1]: ["N", s, s]},
        "threshold": model.threshold,  # raw score above which an image is called anomalous
        "train_scores": [float(v) for v in model.train_scores],  # normalise a score by its rank among these
        "check": dataclasses.asdict(check),
    }


def note_path(out: Path) -> Path:
    """The JSON note written beside an exported graph `out`, e.g. `model.onnx.json`."""
    return out.with_name(out.name + ".json")


def _check_out(out: Path, fmt: str) -> None:
    """Refuse an `out` with the wrong suffix, or one where a file the export would write exists."""
    if out.suffix != SUFFIX[fmt]:
        raise ValueError(f"--out {out}: an export as {fmt} is written to a {SUFFIX[fmt]} file")
    targets = [out, note_path(out), out.with_suffix(".bin"), Path(f"{out}.data")]
    taken = [str(p) for p in targets if p.exists()]
    if taken:
        raise ValueError(f"{taken[0]} already exists; choose another --out or remove it")


def export_run(
    run_id: int,
    fmt: str,
    out: Path,
    dataset: str | None = None,
    store: Store | None = None,
    mlflow_uri: str | None = None,
) -> ExportReport:
    """Export run `run_id` as `fmt` to `out` and check it on the test split of its dataset (or `dataset`)."""
    store = store or Store.at()
    out = Path(out)
    check_format(fmt)
    _check_out(out, fmt)
    run = db_runs.get_run(store, run_id)
    if run is not None and run.method != ENSEMBLE:  # load_saved_model tells missing runs and ensembles
        check_exportable(run.method)
    model = load_saved_model(run_id, store=store, mlflow_uri=mlflow_uri)
    check_graph(model.method)
    data = load_dataset(dataset or model.dataset, model.image_size, int(model.spec["seed"]), store=store)
    if len(data.test) == 0 or data.channels != model.channels:
        raise ValueError(
            f"dataset {data.name!r} has no {model.channels}-channel test images to check the export on; give "
            "the run's dataset with --dataset"
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        shape = (model.channels, model.image_size, model.image_size)
        if fmt == "onnx":
            graph = export_onnx(model.method, shape, work / out.name)  # big weights: <name>.data beside it
        else:
            graph = export_openvino(export_onnx(model.method, shape, work / ".graph.onnx"), work / out.name)
            for passing in work.glob(".graph.onnx*"):
                passing.unlink()
        check = check_export(model, scorer_for(fmt, graph), data.test.images, data.test.labels.numpy())
        if not check.passed:
            raise ValueError(
                f"run {run_id}'s {fmt} export does not score its test images as the method does (largest score "
                f"difference {check.max_score_difference:.3g}, AUROC {check.auroc_exported} against "
                f"{check.auroc_pytorch}); nothing was written"
            )
        files = sorted((p.name for p in work.iterdir()), key=lambda name: name != out.name)
        note = _note(model, fmt, [*files, note_path(out).name], check)
        (work / note_path(out).name).write_text(json.dumps(note, indent=1))
        for name in [*files[1:], note_path(out).name, files[0]]:  # the graph last: whole when seen
            os.replace(work / name, out.parent / name)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return ExportReport(run_id, model.method_key, fmt, [str(out.parent / n) for n in note["files"]], check)
