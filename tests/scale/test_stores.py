"""The results store on SQLite and on PostgreSQL: migrations (also from an older schema with rows in it),
the queue's atomic claims and leases, and a database restarted mid-sweep."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from db import datasets as db_datasets
from db import jobs as db_jobs
from db import runs as db_runs
from db import schema
from db.store import Store

PROJECT_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(params=["sqlite", "postgresql"])
def any_db_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    return request.getfixturevalue("pg_url")


def test_an_older_schema_with_rows_is_upgraded_in_place(any_db_url):
    from alembic import command

    command.upgrade(schema._alembic_config(any_db_url), "0002")  # the schema before leases
    engine = create_engine(any_db_url)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO datasets (name, kind, root, channels, created_at) "
                "VALUES ('kept', 'mvtec', '/data/kept', 3, CURRENT_TIMESTAMP)"
            )
        )
        conn.execute(
            text(
                "INSERT INTO runs (dataset_name, method, preset, params_json, seed, image_size, status, "
                "metrics_json, image_auroc, started_at) VALUES ('kept', 'vae', 'cpu', '{}', 0, 128, "
                "'FINISHED', '{}', 0.875, CURRENT_TIMESTAMP)"
            )
        )
        conn.execute(
            text(
                "INSERT INTO jobs (kind, payload_json, status, progress, cancel_requested, created_at) "
                "VALUES ('train', '{}', 'DONE', 1.0, false, CURRENT_TIMESTAMP)"
            )
        )
    engine.dispose()
    assert Store.migrate(any_db_url) == schema.head_revision()
    assert db_datasets.get_dataset(Store.at(any_db_url), "kept").root == "/data/kept"
    (run,) = db_runs.list_runs(Store.at(any_db_url))
    assert (run.method, run.image_auroc, run.worker_id, run.queued_by) == ("vae", 0.875, None, None)
    (job,) = db_jobs.list_jobs(Store.at(any_db_url))
    assert job.status == "DONE" and job.lease_expires_at is None


def test_claims_are_atomic_and_leased(any_db_url):
    Store.migrate(any_db_url)  # explicit, as `python -m engine migrate` (SQLite would also do it itself)
    ids = [db_jobs.add_job(Store.at(any_db_url), {}) for _ in range(3)]
    first = db_jobs.claim_next(Store.at(any_db_url), 1, worker_id="a:1:x")
    assert first.id == ids[0] and first.lease_expires_at is not None
    assert db_jobs.claim(Store.at(any_db_url), ids[0], 2, "b:2:y") is None  # already RUNNING
    assert db_jobs.claim(Store.at(any_db_url), ids[2], 2, "b:2:y").worker_id == "b:2:y"
    assert db_jobs.claim_next(Store.at(any_db_url), 3, worker_id="c:3:z").id == ids[1]
    assert db_jobs.claim_next(Store.at(any_db_url), 3, worker_id="c:3:z") is None


MIGRATE = "import sys; from db.store import Store; print(Store.migrate(sys.argv[1]))"


def test_four_processes_migrate_a_fresh_postgres_at_once(pg_url):
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", MIGRATE, pg_url], cwd=PROJECT_ROOT, stderr=subprocess.PIPE, text=True
        )
        for _ in range(4)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err[-2000:]
    assert schema.is_current(pg_url)


def test_a_worker_never_migrates_a_database_server(pg_url):
    with pytest.raises(
        schema.SchemaError, match=r"revision none and this version needs .*python -m engine migrate"
    ):
        db_jobs.add_job(Store.at(pg_url), {})
    Store.migrate(pg_url)
    assert db_jobs.add_job(Store.at(pg_url), {}) == 1


def _restart_postgres() -> None:
    version, cluster = subprocess.run(
        ["pg_lsclusters", "--no-header"], capture_output=True, text=True, check=True
    ).stdout.split()[:2]
    subprocess.run(["pg_ctlcluster", version, cluster, "restart"], check=True, timeout=120)


def test_a_restarted_database_loses_no_finished_run(pg_url, workbench_env, toy_folder, monkeypatch):
    from engine import jobs, sweep
    from engine.executors.local import LocalProcessExecutor

    monkeypatch.setenv("WORKBENCH_DB_URL", pg_url)
    Store.migrate(pg_url)
    configs = sweep.grid(
        [str(toy_folder)], ["autoencoder", "vae", "autoencoder"], ["smoke"], [0], image_size=32
    )
    ids = sweep.enqueue_sweep(configs)
    jobs.run_worker(once=True, max_jobs=1)  # one finished run before the restart
    done_before = {r.id for r in db_runs.list_runs(Store.at(), status="FINISHED")}
    assert len(done_before) == 1
    _restart_postgres()
    final = sweep.wait(ids, LocalProcessExecutor(), timeout=600)
    assert final == dict.fromkeys(ids, "DONE"), [jobs.get_job(i).error for i in ids]
    finished = {r.id for r in db_runs.list_runs(Store.at(), status="FINISHED")}
    assert done_before <= finished and len(finished) == 3
