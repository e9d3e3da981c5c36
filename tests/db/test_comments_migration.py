"""Revision 0004 (comment threads) upgrades a store that already holds comments, keeping every row."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import create_engine, text

from db import comments, schema
from db.store import Store


@pytest.fixture(params=["sqlite", "postgresql"])
def any_db_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    return request.getfixturevalue("pg_url")


def test_comments_of_an_older_schema_are_kept_and_can_be_answered(any_db_url, workbench_env):
    from alembic import command

    command.upgrade(schema._alembic_config(any_db_url), "0003")  # the schema before comment threads
    engine = create_engine(any_db_url)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO runs (dataset_name, method, preset, params_json, seed, image_size, status, "
                "metrics_json, started_at) VALUES ('kept', 'vae', 'cpu', '{}', 0, 128, 'FINISHED', '{}', "
                "CURRENT_TIMESTAMP)"
            )
        )
        run_id = conn.scalar(text("SELECT id FROM runs"))
        for author, body, when in (("ann", "on the run", "2026-11-30 10:00:00"), ("bob", "a 2nd", None)):
            conn.execute(
                text(
                    "INSERT INTO comments (run_id, image_name, dataset_name, author, text, created_at) "
                    "VALUES (:run, :image, 'kept', :author, :text, :when)"
                ),
                {
                    "run": run_id,
                    "image": None if when else "test/a.png",
                    "author": author,
                    "text": body,
                    "when": when or "2026-11-30 11:00:00",
                },
            )
    engine.dispose()

    assert Store.migrate(any_db_url) == schema.head_revision()  # 0004 and every later revision
    rows = comments.list_comments(Store.at(any_db_url), "kept")
    assert [(r.author, r.text, r.run_id, r.image_name, r.parent_id, r.edited_at) for r in rows] == [
        ("ann", "on the run", run_id, None, None, None),
        ("bob", "a 2nd", run_id, "test/a.png", None, None),
    ]
    assert rows[0].created_at == datetime(2026, 11, 30, 10, 0)
    reply = comments.add_comment(Store.at(any_db_url), "kept", "bob", "answered", parent_id=rows[0].id)
    comments.edit_comment(Store.at(any_db_url), rows[0].id, "ann", "on the run, edited")
    after = {r.id: r for r in comments.list_comments(Store.at(any_db_url), "kept")}
    assert after[reply].parent_id == rows[0].id and after[reply].run_id == run_id
    assert after[rows[0].id].text == "on the run, edited" and after[rows[0].id].edited_at is not None
    Store.dispose_all()


def test_the_threads_revision_downgrades_and_upgrades_again(db_url):
    from alembic import command

    Store.migrate(db_url)
    config = schema._alembic_config(db_url)
    command.downgrade(config, "0003")
    engine = create_engine(db_url)
    with engine.connect() as conn:
        columns = {row[1] for row in conn.execute(text("PRAGMA table_info(comments)"))}
    engine.dispose()
    assert "parent_id" not in columns and "edited_at" not in columns
    command.upgrade(config, "head")
    assert schema.is_current(db_url)
