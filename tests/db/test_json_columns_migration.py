"""Revision 0008 turns the text columns that held JSON (runs.params_json, runs.metrics_json, jobs.payload_json)
into JSON columns named params, metrics and payload, keeping every value, on SQLite and PostgreSQL; an empty
text becomes {}; its downgrade gives the same text back."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import create_engine, inspect, text

from db import jobs as db_jobs
from db import runs as db_runs
from db import schema
from db.store import Store

PARAMS = {"backbone": "efficientnet_lite0", "layers": [1, 2]}
METRICS = {"image_auroc": 0.875, "roc": {"fpr": [0.0, 1.0], "tpr": [0.0, 1.0]}}
PAYLOAD = {"dataset": "d", "method": "vae", "preset": "cpu"}


@pytest.fixture(params=["sqlite", "postgresql"])
def any_db_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    return request.getfixturevalue("pg_url")


def _columns(url: str, table: str) -> dict[str, str]:
    engine = create_engine(url)
    try:
        return {c["name"]: type(c["type"]).__name__ for c in inspect(engine).get_columns(table)}
    finally:
        engine.dispose()


def _insert_run(conn, params: str, metrics: str) -> int:
    conn.execute(
        text(
            "INSERT INTO runs (dataset_name, method, preset, params_json, seed, image_size, status, "
            "metrics_json, started_at) VALUES ('kept', 'vae', 'cpu', :params, 0, 128, 'FINISHED', :metrics, "
            "CURRENT_TIMESTAMP)"
        ),
        {"params": params, "metrics": metrics},
    )
    return conn.scalar(text("SELECT MAX(id) FROM runs"))


def test_json_text_of_the_older_schema_is_read_back_as_objects(any_db_url):
    from alembic import command

    config = schema._alembic_config(any_db_url)
    command.upgrade(config, "0007")  # the schema with text columns
    engine = create_engine(any_db_url)
    with engine.begin() as conn:
        full = _insert_run(conn, json.dumps(PARAMS), json.dumps(METRICS))
        empty = _insert_run(conn, "", "")  # never written by the workbench, but text allows it
        conn.execute(
            text(
                "INSERT INTO jobs (kind, payload_json, status, progress, cancel_requested, created_at) "
                "VALUES ('train', :payload, 'QUEUED', 0, false, CURRENT_TIMESTAMP)"
            ),
            {"payload": json.dumps(PAYLOAD)},
        )
        job = conn.scalar(text("SELECT id FROM jobs"))
    engine.dispose()

    assert Store.migrate(any_db_url) == schema.head_revision()
    assert {"params", "metrics"} <= set(_columns(any_db_url, "runs"))
    assert "params_json" not in _columns(any_db_url, "runs") and "payload" in _columns(any_db_url, "jobs")
    store = Store.at(any_db_url)
    run = db_runs.get_run(store, full)
    assert (run.params, run.metrics) == (PARAMS, METRICS)
    assert (db_runs.get_run(store, empty).params, db_runs.get_run(store, empty).metrics) == ({}, {})
    assert db_jobs.get_job(store, job).payload == PAYLOAD
    Store.dispose_all()

    command.downgrade(config, "0007")
    engine = create_engine(any_db_url)
    with engine.connect() as conn:
        params, metrics = conn.execute(
            text("SELECT params_json, metrics_json FROM runs WHERE id = :id"), {"id": full}
        ).one()
    engine.dispose()
    assert (json.loads(params), json.loads(metrics)) == (PARAMS, METRICS)
    command.upgrade(config, "head")
    assert db_runs.get_run(Store.at(any_db_url), full).metrics == METRICS
    Store.dispose_all()


def test_values_json_cannot_hold_are_stored_as_null_or_text(store):
    """NumPy numbers become numbers, NaN (which PostgreSQL's json refuses) null, a path its text."""
    from pathlib import Path

    import numpy as np

    run_id = db_runs.create_run(
        store,
        dataset_name="d",
        method="vae",
        preset="cpu",
        seed=0,
        image_size=64,
        params={"root": Path("/data/parts"), "size": np.int64(64)},
    )
    db_runs.update_run(store, run_id, metrics={"image_auroc": np.float32(0.5), "pro": float("nan")})
    run = db_runs.get_run(store, run_id)
    assert run.params == {"root": "/data/parts", "size": 64}
    assert run.metrics == {"image_auroc": 0.5, "pro": None}
