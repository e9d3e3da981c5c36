"""Opening the MLflow tracking store. A SQLite store is created or upgraded by one process at a time (two
processes doing it at once break it for good); one left half-migrated by an older version is rebuilt when
it holds no runs, else refused with what to do. Other URIs (a tracking server) are opened as they are."""

from __future__ import annotations

import sqlite3
import sys
import threading
import time
from pathlib import Path
from typing import Any

from db.locks import file_lock, lock_path_for
from db.schema import StoreError
from engine import config

_ready: set[str] = set()
_guard = threading.Lock()


class MlflowStoreError(StoreError):
    """The MLflow store cannot be opened as it is; the message says what to do."""


def client(uri: str | None = None) -> Any:
    """An explicit MlflowClient on a store that is ready (never the process-global fluent API)."""
    from mlflow.tracking import MlflowClient

    uri = uri or config.mlflow_uri()
    if uri.startswith("sqlite:///"):
        ensure_sqlite_store(uri)
    return MlflowClient(tracking_uri=uri)


def _open(uri: str) -> None:
    from mlflow.tracking import MlflowClient

    MlflowClient(tracking_uri=uri).search_experiments(max_results=1)  # creates or checks the schema


def _count_runs(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        return conn.execute("SELECT count(*) FROM runs").fetchone()[0] if "runs" in tables else 0


def _drop_interrupted_copies(path: Path) -> list[str]:
    """Drop `_alembic_tmp_X` tables whose original X still exists (a batch migration stopped half-way)."""
    with sqlite3.connect(path) as conn:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        stale = [
            t for t in tables if t.startswith("_alembic_tmp_") and t.removeprefix("_alembic_tmp_") in tables
        ]
        for table in stale:
            conn.execute(f'DROP TABLE "{table}"')
    return stale


def _forget_engine(uri: str) -> None:
    """Close MLflow's cached engine for `uri`: its pooled connections would keep using the moved file."""
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    engine = SqlAlchemyStore._engine_map.pop(uri, None)
    if engine is not None:
        engine.dispose()


def ensure_sqlite_store(uri: str) -> None:
    """Create or upgrade the SQLite MLflow store at `uri` once per process, under an inter-process lock."""
    with _guard:
        if uri in _ready:
            return
        path = Path(uri.removeprefix("sqlite:///"))
        path.parent.mkdir(parents=True, exist_ok=True)
        with file_lock(lock_path_for(uri), what="the MLflow store"):
            if path.exists():
                _drop_interrupted_copies(path)  # else the next migration fails on "table already exists"
            try:
                _open(uri)
            except Exception as exc:
                _repair(uri, path, exc)
        _ready.add(uri)


def _repair(uri: str, path: Path, exc: Exception) -> None:
    first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
    runs = _count_runs(path)
    if runs:
        raise MlflowStoreError(
            f"the MLflow store {path} cannot be opened ({first_line}); it holds {runs} runs, so it is left as "
            f"it is. Back it up, then try `mlflow db upgrade sqlite:///{path}`; if that fails too, move the "
            "file aside and the next command starts a fresh store (the results store keeps every run's metrics)."
        ) from exc
    aside = path.with_name(f"{path.name}.broken-{time.strftime('%Y%m%d-%H%M%S')}")
    _forget_engine(uri)
    path.rename(aside)
    print(
        f"The MLflow store {path.name} was left half-migrated ({first_line}) and held no runs: "
        f"moved it to {aside.name} and made a fresh one.",
        file=sys.stderr,
    )
    _open(uri)
