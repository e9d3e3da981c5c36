"""The Store object: one per URL per process, sessions that commit or roll back, and a URL passed where a Store
belongs fails at once instead of falling back to the environment's store."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from db import jobs as db_jobs
from db import runs as db_runs
from db.models import Job
from db.store import Store
from engine import jobs


def test_one_store_per_url(store, tmp_path):
    assert Store.at(store.url) is store
    other = Store.at(f"sqlite:///{tmp_path / 'other.db'}")
    assert other is not store and other.engine is not store.engine
    assert pickle.loads(pickle.dumps(store)) is store  # pickled (and hashed by Streamlit) as its URL


def test_the_default_store_follows_the_environment(workbench_env):
    assert Store.at().url == workbench_env["WORKBENCH_DB_URL"]


def test_a_session_rolls_back_on_error(store):
    with pytest.raises(RuntimeError, match="boom"), store.session() as s:
        s.add(Job(kind="train", payload={}, status="QUEUED", progress=0.0))
        s.flush()
        raise RuntimeError("boom")
    assert db_jobs.list_jobs(store) == []
    assert db_jobs.add_job(store, {}) == 1


def test_dispose_all_forgets_every_store(store):
    Store.dispose_all()
    assert Store.at(store.url) is not store


def test_a_url_where_a_store_belongs_fails_loudly(workbench_env, db_url):
    default = Path(workbench_env["WORKBENCH_DB_URL"].removeprefix("sqlite:///"))
    with pytest.raises(AttributeError, match="'str' object has no attribute 'session'"):
        db_runs.list_runs(db_url)
    with pytest.raises(AttributeError, match="'str' object has no attribute 'session'"):
        jobs.list_jobs(store=db_url)  # an engine function whose store may be left out
    with pytest.raises(TypeError, match="a URL string or None"):
        Store.at(Store.at(db_url))
    assert not default.exists()  # nothing fell back to the environment's store
