"""A run's per-image results as one compressed artifact (`predictions.npz`): writing it, and reading it back
from this disk or, through MLflow, from wherever the tracking server keeps it (cached once per run)."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from db import locations
from engine import mlflow_store

PREDICTIONS_FILE = "predictions.npz"


@dataclass
class RunArrays:
    """Per-image results of a run, written as one compressed predictions artifact."""

    names: list[str]
    labels: np.ndarray  # (N,)
    defect_types: list[str]
    scores: np.ndarray  # (N,)
    scores_normalized: np.ndarray  # (N,)
    embeddings: np.ndarray  # (N, D)
    centroid: np.ndarray  # (D,)
    train_embeddings: np.ndarray  # (M, D), a sample of normal training embeddings
    train_scores: np.ndarray  # (M,)
    anomaly_maps: np.ndarray  # (N, H, W)
    reconstructions: np.ndarray | None = None  # (N, C, H, W) in [0, 1]
    attentions: np.ndarray | None = None  # (N, H, W) in [0, 1] (or raw, as the method returns)
    masks: np.ndarray | None = None  # (N, H, W) {0, 1}

    def save(self, path: Path) -> None:
        arrays: dict[str, np.ndarray] = {
            "names": np.asarray(self.names, dtype=str),
            "labels": np.asarray(self.labels, dtype=np.int8),
            "defect_types": np.asarray(self.defect_types, dtype=str),
            "scores": np.asarray(self.scores, dtype=np.float32),
            "scores_normalized": np.asarray(self.scores_normalized, dtype=np.float32),
            "embeddings": np.asarray(self.embeddings, dtype=np.float16),
            "centroid": np.asarray(self.centroid, dtype=np.float32),
            "train_embeddings": np.asarray(self.train_embeddings, dtype=np.float16),
            "train_scores": np.asarray(self.train_scores, dtype=np.float32),
            "anomaly_maps": np.asarray(self.anomaly_maps, dtype=np.float16),
        }
        if self.reconstructions is not None:
            arrays["reconstructions"] = np.round(np.clip(self.reconstructions, 0, 1) * 255).astype(np.uint8)
        if self.attentions is not None:
            arrays["attentions"] = np.asarray(self.attentions, dtype=np.float16)
        if self.masks is not None:
            arrays["masks"] = np.asarray(self.masks, dtype=np.uint8)
        np.savez_compressed(path, **arrays)


class Predictions:
    """Lazy view of a predictions artifact: arrays are read from the file on first access."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._npz = np.load(self.path, allow_pickle=False)

    @property
    def keys(self) -> list[str]:
        return list(self._npz.files)

    def get(self, key: str) -> np.ndarray | None:
        if key not in self._npz.files:
            return None
        value = self._npz[key]
        if key == "reconstructions":
            return value.astype(np.float32) / 255.0
        return value


def _local_artifact(run: Any, mlflow_uri: str | None) -> Path | None:
    """The predictions artifact in place when MLflow keeps artifacts on a file system this machine sees."""
    from urllib.parse import unquote, urlparse

    try:
        uri = mlflow_store.client(mlflow_uri).get_run(run.mlflow_run_id).info.artifact_uri
    except Exception:  # the run is not in this MLflow store: the download below says so
        return None
    if not uri.startswith("file:"):
        return None
    path = Path(unquote(urlparse(uri).path)) / PREDICTIONS_FILE
    return path if path.is_file() else None


def predictions_path(run: Any, mlflow_uri: str | None = None) -> Path:
    """Local path of a run's predictions artifact: a file the store names, else MLflow's own copy when its
    artifact store is a local folder, else downloaded once from MLflow into `<data dir>/.cache/predictions/`
    (a failed download leaves nothing behind). The store keeps no absolute path, so it moves between hosts."""
    if run.predictions_path and Path(run.predictions_path).exists():
        return Path(run.predictions_path)
    if not run.mlflow_run_id:
        raise FileNotFoundError(f"run {run.id} has no predictions artifact")
    local = _local_artifact(run, mlflow_uri)
    if local is not None:
        return local
    cached = locations.data_dir() / ".cache" / "predictions" / run.mlflow_run_id / PREDICTIONS_FILE
    if cached.exists():
        return cached
    cached.parent.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cached.parent.parent, prefix=".download-") as tmp:
        try:
            local = mlflow_store.client(mlflow_uri).download_artifacts(
                run.mlflow_run_id, PREDICTIONS_FILE, tmp
            )
        except Exception as exc:
            raise FileNotFoundError(
                f"run {run.id}: its predictions could not be fetched from MLflow ({type(exc).__name__})"
            ) from exc
        cached.parent.mkdir(exist_ok=True)
        os.replace(local, cached)  # atomic: a reader never sees half a file
    return cached


def load_predictions(run: Any, mlflow_uri: str | None = None) -> Predictions:
    return Predictions(predictions_path(run, mlflow_uri))
