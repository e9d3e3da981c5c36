"""Revision 0007 drops the unused `predictions.embedding` column and keeps every prediction row, its index and
its one-row-per-image rule, on SQLite and PostgreSQL; its downgrade brings the column back, empty."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.exc import IntegrityError

from db import runs as db_runs
from db import schema
from db.store import Store

INSERT_PREDICTION = (
    "INSERT INTO predictions (run_id, image_name, label, defect_type, score, score_normalized, embedding) "
    "VALUES (:run, :name, :label, :defect, :score, :norm, :embedding)"
)


@pytest.fixture(params=["sqlite", "postgresql"])
def any_db_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    return request.getfixturevalue("pg_url")


def _columns_and_indexes(url: str) -> tuple[set[str], set[str]]:
    engine = create_engine(url)
    try:
        found = inspect(engine)
        columns = {c["name"] for c in found.get_columns("predictions")}
        return columns, {i["name"] for i in found.get_indexes("predictions")}
    finally:
        engine.dispose()


def test_predictions_of_the_older_schema_are_kept_without_their_embedding(any_db_url):
    from alembic import command

    config = schema._alembic_config(any_db_url)
    command.upgrade(config, "0006")  # the schema before the column was dropped
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
        for name, label, defect, score, embedding in (
            ("test/good/000.png", 0, "good", 0.25, b"\x00\x01"),  # written before 0003
            ("test/crack/000.png", 1, "crack", 0.75, None),
        ):
            row = {"name": name, "label": label, "defect": defect, "score": score, "norm": score}
            conn.execute(text(INSERT_PREDICTION), {"run": run_id, **row, "embedding": embedding})
    engine.dispose()

    assert Store.migrate(any_db_url) == schema.head_revision()
    columns, indexes = _columns_and_indexes(any_db_url)
    assert "embedding" not in columns and "ix_predictions_run_id" in indexes
    rows = db_runs.get_predictions(Store.at(any_db_url), run_id)
    assert [(r.image_name, r.label, r.defect_type, r.score) for r in rows] == [
        ("test/good/000.png", 0, "good", 0.25),
        ("test/crack/000.png", 1, "crack", 0.75),
    ]
    Store.dispose_all()
    engine = create_engine(any_db_url)
    with pytest.raises(IntegrityError), engine.begin() as conn:  # still one row per run and image
        conn.execute(
            text(
                "INSERT INTO predictions (run_id, image_name, label, defect_type, score, score_normalized) "
                "VALUES (:run, 'test/good/000.png', 0, 'good', 0.5, 0.5)"
            ),
            {"run": run_id},
        )
    engine.dispose()

    command.downgrade(config, "0006")
    assert "embedding" in _columns_and_indexes(any_db_url)[0]
    command.upgrade(config, "head")
    assert schema.is_current(any_db_url)
    assert len(db_runs.get_predictions(Store.at(any_db_url), run_id)) == 2
    Store.dispose_all()
