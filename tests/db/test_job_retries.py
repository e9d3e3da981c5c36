"""Revision 0005 (job retries): a job records the job it retries, and a job is retried once however many clicks
on Retry race for it (a unique column), on SQLite and PostgreSQL; jobs of the older schema are kept."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import create_engine, text

from db import jobs as db_jobs
from db import schema
from db.store import Store


@pytest.fixture(params=["sqlite", "postgresql"])
def any_db_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    return request.getfixturevalue("pg_url")


def test_a_failed_job_of_the_older_schema_is_retried_once_by_racing_clicks(any_db_url, workbench_env):
    from alembic import command

    command.upgrade(schema._alembic_config(any_db_url), "0004")  # the schema before job retries
    engine = create_engine(any_db_url)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO jobs (kind, payload_json, status, progress, cancel_requested, created_at) "
                "VALUES ('train', '{}', 'FAILED', 0.0, false, CURRENT_TIMESTAMP)"
            )
        )
        failed = conn.scalar(text("SELECT id FROM jobs"))
    engine.dispose()
    Store.migrate(any_db_url)

    start, queued, refused = threading.Barrier(4), [], []

    def click() -> None:
        start.wait()
        try:
            queued.append(db_jobs.add_job(Store.at(any_db_url), {}, retry_of=failed))
        except db_jobs.NotRetriable as exc:
            refused.append(str(exc))

    clicks = [threading.Thread(target=click) for _ in range(4)]
    for thread in clicks:
        thread.start()
    for thread in clicks:
        thread.join()
    assert len(queued) == 1 and len(refused) == 3
    assert set(refused) == {f"job #{failed} was retried already as job #{queued[0]}, which is queued"}
    assert db_jobs.get_job(Store.at(any_db_url), queued[0]).retry_of == failed
    assert db_jobs.get_job(Store.at(any_db_url), failed).retry_of is None
