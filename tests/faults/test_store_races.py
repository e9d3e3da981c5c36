"""Fresh and damaged stores opened by several real processes at once: nothing breaks, nothing is lost."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from db import schema
from db.store import Store
from engine import mlflow_store

PROJECT_ROOT = Path(__file__).resolve().parents[2]

OPEN_BOTH = """
import sys
from db.store import Store
from engine.mlflow_run import experiment_id
from engine.tracking import mlflow_client
Store.at(sys.argv[1])
print(experiment_id(mlflow_client(sys.argv[2]), "race"))
"""


def _spawn(code: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", code, *args],
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_four_processes_open_fresh_stores_at_once(tmp_path):
    db_url, ml_uri = f"sqlite:///{tmp_path / 'store.db'}", f"sqlite:///{tmp_path / 'mlflow.db'}"
    procs = [_spawn(OPEN_BOTH, db_url, ml_uri) for _ in range(4)]
    outs = [p.communicate(timeout=240) for p in procs]
    for proc, (_out, err) in zip(procs, outs, strict=True):
        assert proc.returncode == 0, err[-2000:]
    assert len({out.strip() for out, _ in outs}) == 1  # one experiment, the same id for all
    assert schema.is_current(db_url)
    mlflow_store.client(ml_uri).search_runs([outs[0][0].strip()])  # the store works afterwards


def _fresh_mlflow(path: Path) -> str:
    uri = f"sqlite:///{path}"
    mlflow_store.client(uri).search_experiments()
    mlflow_store._ready.discard(uri)  # let the next client() open it again, as a new process would
    return uri


def test_interrupted_batch_copy_is_dropped(tmp_path):
    uri = _fresh_mlflow(tmp_path / "mlflow.db")
    with sqlite3.connect(tmp_path / "mlflow.db") as conn:
        conn.execute("CREATE TABLE _alembic_tmp_params (key TEXT)")
    mlflow_store.client(uri).search_experiments()
    with sqlite3.connect(tmp_path / "mlflow.db") as conn:
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert "_alembic_tmp_params" not in names and "params" in names


def _break_version(path: Path) -> None:
    """The schema is newer than its version row says: what two processes migrating at once leave."""
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '0c779009ac13'")  # before metrics.step


OPEN_MLFLOW = """
import sys
from engine import mlflow_store
try:
    mlflow_store.client(sys.argv[1]).create_experiment("after")
except mlflow_store.MlflowStoreError as exc:
    print(exc)
    sys.exit(3)
"""


def test_half_migrated_store_without_runs_is_rebuilt(tmp_path):
    uri = _fresh_mlflow(tmp_path / "mlflow.db")
    _break_version(tmp_path / "mlflow.db")
    out, err = _spawn(OPEN_MLFLOW, uri).communicate(timeout=120)
    assert "made a fresh one" in err, err[-2000:]
    assert len(list(tmp_path.glob("mlflow.db.broken-*"))) == 1  # moved aside, not deleted
    with sqlite3.connect(tmp_path / "mlflow.db") as conn:  # the fresh store has the new experiment
        assert conn.execute("SELECT count(*) FROM experiments WHERE name = 'after'").fetchone()[0] == 1


def test_half_migrated_store_with_runs_is_refused_with_what_to_do(tmp_path):
    uri = _fresh_mlflow(tmp_path / "mlflow.db")
    client = mlflow_store.client(uri)
    client.create_run(client.create_experiment("kept"))
    _break_version(tmp_path / "mlflow.db")
    proc = _spawn(OPEN_MLFLOW, uri)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 3, err[-2000:]
    assert "holds 1 runs" in out and "mlflow db upgrade" in out
    assert (tmp_path / "mlflow.db").exists() and not list(tmp_path.glob("mlflow.db.broken-*"))


def test_unversioned_empty_results_store_is_repaired(tmp_path):
    url = f"sqlite:///{tmp_path / 'store.db'}"
    with create_engine(url).begin() as conn:  # an interrupted first start: a table and no version row
        conn.execute(text("CREATE TABLE datasets (id INTEGER PRIMARY KEY, name TEXT)"))
    assert Store.migrate(url) == schema.head_revision()
    assert schema.is_current(url)


def test_unversioned_results_store_with_rows_is_refused(tmp_path):
    url = f"sqlite:///{tmp_path / 'store.db'}"
    with create_engine(url).begin() as conn:
        conn.execute(text("CREATE TABLE datasets (id INTEGER PRIMARY KEY, name TEXT)"))
        conn.execute(text("INSERT INTO datasets (name) VALUES ('kept')"))
    with pytest.raises(schema.SchemaError, match=r"hold rows.*python -m engine migrate"):
        Store.migrate(url)
    with create_engine(url).connect() as conn:
        assert conn.scalar(text("SELECT name FROM datasets")) == "kept"
