"""Locations (from environment variables) and the compute device; nothing else is read from the environment."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def data_dir() -> Path:
    """Managed data directory (`WORKBENCH_DATA_DIR`, default `data/` in the project)."""
    return Path(os.environ.get("WORKBENCH_DATA_DIR", PROJECT_ROOT / "data")).resolve()


def db_url() -> str:
    """Results store URL (`WORKBENCH_DB_URL`, default a SQLite file in the data directory)."""
    url = os.environ.get("WORKBENCH_DB_URL")
    if url:
        return url
    path = data_dir() / "workbench.db"
    return f"sqlite:///{path}"


def mlflow_uri() -> str:
    """MLflow tracking URI (`MLFLOW_TRACKING_URI`, default SQLite under `mlruns/`)."""
    uri = os.environ.get("MLFLOW_TRACKING_URI")
    if uri:
        return uri
    return f"sqlite:///{PROJECT_ROOT / 'mlruns' / 'mlflow.db'}"


def mlflow_artifact_root() -> str:
    """Where new MLflow experiments keep artifacts (next to a SQLite tracking DB, else `mlruns/artifacts`)."""
    uri = mlflow_uri()
    if uri.startswith("sqlite:///"):
        return str(Path(uri.removeprefix("sqlite:///")).parent / "artifacts")
    return str(PROJECT_ROOT / "mlruns" / "artifacts")


@dataclass(frozen=True)
class DeviceInfo:
    device: torch.device
    mixed_precision: bool

    @property
    def name(self) -> str:
        if self.device.type == "cuda":
            return f"cuda:{torch.cuda.get_device_name(self.device)}"
        return "cpu"


def pick_device(prefer: str = "auto") -> DeviceInfo:
    """CUDA (with mixed precision) when available and not refused, else CPU."""
    if prefer not in ("auto", "cpu", "cuda"):
        raise ValueError(f"unknown device {prefer!r}; choose from ['auto', 'cpu', 'cuda']")
    if prefer != "cpu" and torch.cuda.is_available():
        return DeviceInfo(torch.device("cuda"), mixed_precision=True)
    if prefer == "cuda":
        raise RuntimeError("device 'cuda' was asked for but torch sees no CUDA device")
    return DeviceInfo(torch.device("cpu"), mixed_precision=False)
