"""Where the workbench keeps its data and results store (from environment variables); nothing else."""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def data_dir() -> Path:
    """Managed data directory (`WORKBENCH_DATA_DIR`, default `data/` in the project)."""
    return Path(os.environ.get("WORKBENCH_DATA_DIR", PROJECT_ROOT / "data")).resolve()


def db_url() -> str:
    """Results store URL (`WORKBENCH_DB_URL`, default a SQLite file in the data directory)."""
    return os.environ.get("WORKBENCH_DB_URL") or f"sqlite:///{data_dir() / 'workbench.db'}"


def mlflow_uri() -> str:
    """MLflow tracking URI (`MLFLOW_TRACKING_URI`, default SQLite under `mlruns/`)."""
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{PROJECT_ROOT / 'mlruns' / 'mlflow.db'}"


def mlflow_artifact_root() -> str:
    """Where new MLflow experiments keep artifacts (next to a SQLite tracking DB, else `mlruns/artifacts`)."""
    uri = mlflow_uri()
    if uri.startswith("sqlite:///"):
        return str(Path(uri.removeprefix("sqlite:///")).parent / "artifacts")
    return str(PROJECT_ROOT / "mlruns" / "artifacts")
