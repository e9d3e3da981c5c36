"""Shared fixtures: an isolated workbench (store, MLflow, data dir in tmp) and the shared datasets."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import torch

PROJECT_ROOT = Path(__file__).resolve().parents[1]
TESTS = Path(__file__).resolve().parent
# Folders whose every test starts real servers or processes (browsers, Ray, PostgreSQL, mlflow server,
# killed trainings): marked `slow`, like any test that uses PostgreSQL, the shared datasets or is marked so
# itself (training to a quality, whole pages over trained runs, tests/slow.py: docs/testing.md says which).
# `pytest -m "not slow"` is the inner loop; CI runs everything.
SLOW_FOLDERS = ("e2e", "scale", "faults")
SLOW_FIXTURES = ("pg_url", "shared_datasets")
SHARED_DATASETS = (PROJECT_ROOT / ".." / "shared" / "datasets").resolve()

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
torch.set_num_threads(min(2, os.cpu_count() or 1))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        parts = Path(str(item.path)).resolve().relative_to(TESTS).parts
        if parts[0] in SLOW_FOLDERS or any(name in item.fixturenames for name in SLOW_FIXTURES):
            item.add_marker(pytest.mark.slow)


@pytest.fixture
def shared_datasets() -> Path:
    """`../shared/datasets` beside the project; tests that need it skip in a clone without it."""
    if not SHARED_DATASETS.is_dir():
        pytest.skip(f"real datasets not found at {SHARED_DATASETS} (only present beside the dev checkout)")
    return SHARED_DATASETS


@pytest.fixture
def toy_folder(tmp_path: Path) -> Path:
    """A tiny MVTec-layout category (8 train, 3 good and 3 defective test images, 32 px) to train on in seconds."""
    from tests.synthetic_mvtec import make_mvtec_folder

    return make_mvtec_folder(tmp_path / "toy", n_train=8, n_good=3, defects={"square": 3}, size=32)


@pytest.fixture
def pg_url() -> str:
    """A throwaway PostgreSQL database on the server named by WORKBENCH_TEST_PG_URL (CI starts one)."""
    import secrets

    from sqlalchemy import create_engine, text
    from sqlalchemy.pool import NullPool

    from db.store import Store

    base = os.environ.get("WORKBENCH_TEST_PG_URL")
    if not base:
        pytest.skip("no PostgreSQL for tests: export WORKBENCH_TEST_PG_URL=$(bash .ci/start-services)")
    if not base.startswith("postgresql") or "\n" in base:
        pytest.fail(f"WORKBENCH_TEST_PG_URL should be one postgresql:// URL, got {base!r}")
    name = f"wb_test_{secrets.token_hex(4)}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT", poolclass=NullPool)  # survives a restart
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield f"{base.rsplit('/', 1)[0]}/{name}"
    Store.dispose_all()
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'store.db'}"


@pytest.fixture
def store(db_url: str):
    """The results store at `db_url` (a fresh SQLite file for one test)."""
    from db.store import Store

    return Store.at(db_url)


@pytest.fixture(scope="session")
def mlflow_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An MLflow SQLite store migrated once per session; tests copy it (creating one costs seconds)."""
    from engine.tracking import mlflow_client

    path = tmp_path_factory.mktemp("mlflow-template") / "mlflow.db"
    mlflow_client(f"sqlite:///{path}").search_experiments()
    return path


@pytest.fixture
def workbench_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mlflow_template: Path) -> dict[str, str]:
    """Point the results store, MLflow and the data directory at tmp_path for one test."""
    from db.store import Store

    (tmp_path / "mlruns").mkdir()
    shutil.copy(mlflow_template, tmp_path / "mlruns" / "mlflow.db")
    env = {
        "WORKBENCH_DB_URL": f"sqlite:///{tmp_path / 'workbench.db'}",
        "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}",
        "WORKBENCH_DATA_DIR": str(tmp_path / "data"),
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    Store.dispose_all()
    yield env
    Store.dispose_all()


@pytest.fixture
def env_store(workbench_env: dict[str, str]):
    """The results store that `workbench_env` points at (the one every default in the code opens)."""
    from db.store import Store

    return Store.at()
