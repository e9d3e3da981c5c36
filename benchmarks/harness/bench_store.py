"""The store a suite's jobs are queued and recorded in: the environment's (`--store main`), one beside the results
(`--store bench`), or by default a throw-away one in a temporary folder, so a suite never fills a store unasked."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from db.store import Store

STORE_VARIABLES = ("WORKBENCH_DB_URL", "MLFLOW_TRACKING_URI")  # what db.locations reads the two stores from


@contextmanager
def store_in(folder: Path) -> Iterator[None]:
    """Point the results store and MLflow (with its artifacts) at SQLite files in `folder` while inside; the
    data directory (datasets, backbone weights) stays the environment's."""
    folder.mkdir(parents=True, exist_ok=True)
    saved = {name: os.environ.get(name) for name in STORE_VARIABLES}
    os.environ["WORKBENCH_DB_URL"] = f"sqlite:///{folder / 'workbench.db'}"
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{folder / 'mlflow.db'}"
    try:
        yield
    finally:
        Store.dispose_all()  # closes the files before a throw-away folder goes
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextmanager
def throwaway_store() -> Iterator[None]:
    """A fresh store in a temporary folder, deleted on the way out with every run recorded in it."""
    with tempfile.TemporaryDirectory(prefix="bench-store-") as folder, store_in(Path(folder)):
        yield
