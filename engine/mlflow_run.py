"""A run's side in MLflow, through one explicit client: its experiment (one per dataset), its name, and
writing its metrics, params, tags and artifacts (figures, `predictions.npz`, `model/weights.pt`)."""

from __future__ import annotations

import re
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from db import locations
from engine.artifacts import PREDICTIONS_FILE, RunArrays
from engine.model_file import MODEL_ARTIFACT


def experiment_id(client: Any, dataset: str) -> str:
    """The MLflow experiment of a dataset. On a local SQLite store its artifacts go under `mlruns/artifacts`;
    a tracking server chooses their place itself (e.g. its proxied artifact store)."""
    name = f"workbench/{dataset}"
    found = client.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    location = None
    if client.tracking_uri.startswith("sqlite:"):
        folder = Path(locations.mlflow_artifact_root()) / re.sub(r"[^A-Za-z0-9_.-]+", "_", dataset)
        folder.mkdir(parents=True, exist_ok=True)
        location = folder.as_uri()
    try:
        return client.create_experiment(name, artifact_location=location)
    except Exception:  # another process created it first
        found = client.get_experiment_by_name(name)
        if found is None:
            raise
        return found.experiment_id


def run_name(run_id: int, method: str, dataset: str) -> str:
    """The name of a run in MLflow, with the number the dashboard shows: '#12 padim on elpv'."""
    return f"#{run_id} {method} on {dataset}"


def log_batch(
    client: Any,
    mlflow_run_id: str,
    metrics: dict[str, float] | None = None,
    params: dict[str, Any] | None = None,
    tags: dict[str, str] | None = None,
    step: int = 0,
) -> None:
    """One `log_batch` call; metrics that are None are left out, params are cut to MLflow's 500 characters."""
    from mlflow.entities import Metric, Param, RunTag

    now = int(time.time() * 1000)
    client.log_batch(
        mlflow_run_id,
        metrics=[Metric(k, float(v), now, step) for k, v in (metrics or {}).items() if v is not None],
        params=[Param(k, str(v)[:500]) for k, v in (params or {}).items()],
        tags=[RunTag(k, v) for k, v in (tags or {}).items()],
    )


def log_artifacts(
    client: Any,
    mlflow_run_id: str,
    arrays: RunArrays,
    weights: dict[str, Any] | None,
    figures: dict[str, bytes],
) -> None:
    """A finished run's files: `figures` as PNGs under figures/, the per-image arrays and the model file."""
    with tempfile.TemporaryDirectory() as tmp:
        for name, png in figures.items():
            (Path(tmp) / name).write_bytes(png)
            client.log_artifact(mlflow_run_id, str(Path(tmp) / name), artifact_path="figures")
        pred_file = Path(tmp) / PREDICTIONS_FILE
        arrays.save(pred_file)
        client.log_artifact(mlflow_run_id, str(pred_file))
        if weights is not None:
            folder, name = MODEL_ARTIFACT.rsplit("/", 1)
            weights_file = Path(tmp) / name
            torch.save(weights, weights_file)
            client.log_artifact(mlflow_run_id, str(weights_file), artifact_path=folder)
