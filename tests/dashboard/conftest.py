"""Dashboard fixtures: a real results store, real MLflow and real smoke runs on a tiny synthetic dataset.

`dashboard_store` is built once per session (read-only for tests: do not change its labels or datasets);
`dashboard_env` points a test at it and clears Streamlit's caches; `app` is an AppTest of the router."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.synthetic_mvtec import make_mvtec_folder

PROJECT = Path(__file__).resolve().parents[2]
DATASET = "toy"
RUN_METHODS = ("autoencoder", "vae")


@dataclass(frozen=True)
class DashboardStore:
    env: dict[str, str]
    dataset: str
    run_ids: dict[str, int]  # method -> run id
    root: Path


def _env_for(root: Path, mlflow_template: Path) -> dict[str, str]:
    (root / "mlruns").mkdir(parents=True, exist_ok=True)
    shutil.copy(mlflow_template, root / "mlruns" / "mlflow.db")
    return {
        "WORKBENCH_DB_URL": f"sqlite:///{root / 'workbench.db'}",
        "MLFLOW_TRACKING_URI": f"sqlite:///{root / 'mlruns' / 'mlflow.db'}",
        "WORKBENCH_DATA_DIR": str(root / "data"),
    }


@pytest.fixture(scope="session")
def dashboard_store(tmp_path_factory: pytest.TempPathFactory, mlflow_template: Path):
    """Dataset `toy` (16 train, 6 good + 6 'square' test images with masks, 32 px, RGB) imported into the
    store, and one finished smoke run of each of RUN_METHODS on it."""
    from db.store import Store
    from engine.data.importer import import_dataset
    from engine.run import train_and_evaluate
    from engine.runconfig import RunConfig

    root = tmp_path_factory.mktemp("dashboard")
    env = _env_for(root, mlflow_template)
    patch = pytest.MonkeyPatch()
    for key, value in env.items():
        patch.setenv(key, value)
    Store.dispose_all()
    try:
        folder = make_mvtec_folder(root / "source", n_train=16, n_good=6, defects={"square": 6}, size=32)
        import_dataset(folder, DATASET)
        run_ids = {
            method: train_and_evaluate(RunConfig(DATASET, method, "smoke", image_size=32)).run_id
            for method in RUN_METHODS
        }
        yield DashboardStore(env=env, dataset=DATASET, run_ids=run_ids, root=root)
    finally:
        Store.dispose_all()
        patch.undo()


def _clear_streamlit_caches() -> None:
    import streamlit as st

    st.cache_data.clear()
    st.cache_resource.clear()


@pytest.fixture
def dashboard_env(dashboard_store: DashboardStore, monkeypatch: pytest.MonkeyPatch) -> DashboardStore:
    """Point this test at the session store, with fresh Streamlit caches."""
    from db.store import Store

    for key, value in dashboard_store.env.items():
        monkeypatch.setenv(key, value)
    Store.dispose_all()
    _clear_streamlit_caches()
    yield dashboard_store
    Store.dispose_all()
    _clear_streamlit_caches()


@pytest.fixture
def fresh_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mlflow_template: Path) -> dict[str, str]:
    """An empty store of this test's own (for tests that change labels or datasets), fresh caches."""
    from db.store import Store

    env = _env_for(tmp_path, mlflow_template)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    Store.dispose_all()
    _clear_streamlit_caches()
    yield env
    Store.dispose_all()
    _clear_streamlit_caches()


@pytest.fixture
def app():
    """A factory of AppTests of one page file (the router needs every page to exist), run once with session
    values (e.g. user, dataset) set as the sidebar would."""
    from streamlit.testing.v1 import AppTest

    def make(page: str, **session):
        at = AppTest.from_file(str(PROJECT / page), default_timeout=60)
        for key, value in {"user": "tester", **session}.items():
            at.session_state[key] = value
        return at.run()

    return make


# --- results pages (Compare, Embeddings, Inspect, Review) ----------------------------------------------

RESULTS_DATASET = "parts"


@dataclass(frozen=True)
class ResultsStore:
    env: dict[str, str]
    dataset: str
    old_autoencoder: int  # run ids
    autoencoder: int  # the newer autoencoder run (seed 1)
    deep_svdd: int  # has attention maps
    failed: int  # a FAILED vae run
    root: Path

    @property
    def latest(self) -> list[int]:
        """The default selection: the latest finished run of each method, by method name."""
        return [self.autoencoder, self.deep_svdd]


@pytest.fixture(scope="session")
def results_store(tmp_path_factory: pytest.TempPathFactory, mlflow_template: Path):
    """Dataset `parts` (16 train; 6 good, 4 'square', 4 'spot' test images with masks; 32 px RGB) with finished
    smoke runs autoencoder (seed 0), deep_svdd, autoencoder (seed 1), and a FAILED vae run, in this order."""
    from db import runs as db_runs
    from db.store import Store
    from engine.data.importer import import_dataset
    from engine.run import train_and_evaluate
    from engine.runconfig import RunConfig

    root = tmp_path_factory.mktemp("results")
    env = _env_for(root, mlflow_template)
    patch = pytest.MonkeyPatch()
    for key, value in env.items():
        patch.setenv(key, value)
    Store.dispose_all()
    try:
        folder = make_mvtec_folder(
            root / "source", n_train=16, n_good=6, defects={"square": 4, "spot": 4}, size=32
        )
        import_dataset(folder, RESULTS_DATASET)

        def train(method: str, seed: int) -> int:
            return train_and_evaluate(
                RunConfig(RESULTS_DATASET, method, "smoke", image_size=32, seed=seed)
            ).run_id

        old, svdd, new = train("autoencoder", 0), train("deep_svdd", 0), train("autoencoder", 1)
        failed = db_runs.create_run(
            Store.at(),
            dataset_name=RESULTS_DATASET,
            method="vae",
            preset="smoke",
            params={},
            seed=0,
            image_size=32,
        )
        db_runs.update_run(Store.at(), failed, status="FAILED", error="RuntimeError: boom")
        Store.dispose_all()
        yield ResultsStore(env, RESULTS_DATASET, old, new, svdd, failed, root)
    finally:
        Store.dispose_all()
        patch.undo()


@pytest.fixture
def results_env(results_store: ResultsStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ResultsStore:
    """This test's own copy of the results store and MLflow database (artifacts and images are shared,
    read-only), with fresh Streamlit caches: comments and flags a test adds stay in its copy."""
    from db.store import Store

    env = dict(results_store.env)
    for name in ("workbench.db", "workbench.db-wal", "mlruns/mlflow.db"):
        source = results_store.root / name
        if source.exists():
            (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(source, tmp_path / name)
    env["WORKBENCH_DB_URL"] = f"sqlite:///{tmp_path / 'workbench.db'}"
    env["MLFLOW_TRACKING_URI"] = f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    Store.dispose_all()
    _clear_streamlit_caches()
    yield ResultsStore(
        env,
        results_store.dataset,
        results_store.old_autoencoder,
        results_store.autoencoder,
        results_store.deep_svdd,
        results_store.failed,
        results_store.root,
    )
    Store.dispose_all()
    _clear_streamlit_caches()
