"""The one place that opens SQLAlchemy sessions: connection, migrations, and typed read/write helpers."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine, create_engine, delete, event, func, select, update
from sqlalchemy.orm import Session

from db import locations, schema
from db.models import Dataset, Image, ImagePrediction, Run, utcnow

_engines: dict[str, Engine] = {}
_lock = threading.Lock()


# A new connection waits up to WAL_TRIES x WAL_RETRY_SECONDS for another one to let it switch the file to WAL.
WAL_TRIES = 300
WAL_RETRY_SECONDS = 0.1


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    # Switching a new file to WAL needs it to itself, and SQLite answers "database is locked" at once rather
    # than waiting on the busy timeout: two processes opening a fresh store together (two `train` commands)
    # lost that race. The mode is stored in the file, so only the first connection ever has to switch.
    for attempt in range(WAL_TRIES):
        try:
            if cursor.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                cursor.execute("PRAGMA journal_mode=WAL")
            break
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or attempt == WAL_TRIES - 1:
                raise
            time.sleep(WAL_RETRY_SECONDS)
    cursor.close()


def migrate(url: str | None = None) -> str:
    """Bring the schema at `url` to the newest revision (once, under a lock); returns the revision."""
    url = url or locations.db_url()
    with schema.answering(url):
        return schema.migrate(url)


def get_engine(url: str | None = None) -> Engine:
    """A process-wide engine for `url` (default `WORKBENCH_DB_URL`). A SQLite file (one machine) is migrated
    on first use, under a lock; a database server is never migrated implicitly: a store behind the code is
    refused with the command to run (`python -m engine migrate`), so workers never change a shared schema."""
    url = url or locations.db_url()
    with _lock:
        if url in _engines:
            return _engines[url]
        if url.startswith("sqlite"):
            engine = create_engine(url, connect_args={"timeout": 30})
        else:  # a server that may restart: test pooled connections before use
            engine = create_engine(url, pool_pre_ping=True)
        if url.startswith("sqlite"):
            event.listen(engine, "connect", _sqlite_pragmas)
            migrate(url)
        else:
            schema.require_current(url)
        _engines[url] = engine
        return engine


def dispose_engines() -> None:
    """Close every pooled connection (tests switch databases)."""
    with _lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()


@contextmanager
def session_scope(url: str | None = None) -> Iterator[Session]:
    """A session that commits on success and rolls back on any error; a database server that does not
    answer raises schema.StoreUnreachable (one sentence with its host and port) instead of a driver error."""
    url = url or locations.db_url()
    with schema.answering(url), Session(get_engine(url), expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


# --- datasets and images ---------------------------------------------------------------------


@dataclass(frozen=True)
class ImageRow:
    relpath: str
    split: str
    label: int | None
    defect_type: str | None
    mask_relpath: str | None
    sha256: str
    width: int
    height: int
    channels: int


def add_dataset(
    name: str, kind: str, root: str, channels: int, images: Sequence[ImageRow], url: str | None = None
) -> int:
    """Record a dataset and all its images in one transaction; returns the dataset id."""
    with session_scope(url) as s:
        if s.scalar(select(Dataset.id).where(Dataset.name == name)) is not None:
            raise ValueError(f"a dataset named {name!r} already exists; pick another name")
        ds = Dataset(name=name, kind=kind, root=root, channels=channels)
        s.add(ds)
        s.flush()
        s.add_all(Image(dataset_id=ds.id, **vars(row)) for row in images)
        return ds.id


def get_dataset(name: str, url: str | None = None) -> Dataset | None:
    with session_scope(url) as s:
        return s.scalar(select(Dataset).where(Dataset.name == name, Dataset.deleted_at.is_(None)))


def list_datasets(url: str | None = None) -> list[Dataset]:
    with session_scope(url) as s:
        return list(s.scalars(select(Dataset).where(Dataset.deleted_at.is_(None)).order_by(Dataset.name)))


def list_images(dataset_id: int, split: str | None = None, url: str | None = None) -> list[Image]:
    with session_scope(url) as s:
        query = select(Image).where(Image.dataset_id == dataset_id)
        if split:
            query = query.where(Image.split == split)
        return list(s.scalars(query.order_by(Image.relpath)))


def image_counts(dataset_id: int, url: str | None = None) -> dict[tuple[str, str], int]:
    """Counts per (split, defect type or 'unlabeled')."""
    with session_scope(url) as s:
        rows = s.execute(
            select(Image.split, func.coalesce(Image.defect_type, "unlabeled"), func.count())
            .where(Image.dataset_id == dataset_id)
            .group_by(Image.split, Image.defect_type)
        )
        return {(split, defect): n for split, defect, n in rows}


def scorable_count(dataset_id: int, url: str | None = None) -> int:
    """Images a run can be scored on: labeled test images plus train images labeled anomalous."""
    with session_scope(url) as s:
        labeled_test = (Image.split == "test") & Image.label.is_not(None)
        return int(
            s.scalar(
                select(func.count()).where(Image.dataset_id == dataset_id, labeled_test | (Image.label == 1))
            )
        )


# --- runs --------------------------------------------------------------------------------------


def create_run(
    *,
    dataset_name: str,
    method: str,
    preset: str,
    params: dict[str, Any],
    seed: int,
    image_size: int,
    mlflow_run_id: str | None = None,
    worker_id: str | None = None,
    lease_seconds: float = 60.0,
    url: str | None = None,
) -> int:
    """A new RUNNING run held by `worker_id` for `lease_seconds` (renewed by `renew_run_lease`); its id."""
    with session_scope(url) as s:
        dataset_id = s.scalar(select(Dataset.id).where(Dataset.name == dataset_name))
        run = Run(
            dataset_id=dataset_id,
            dataset_name=dataset_name,
            method=method,
            preset=preset,
            params_json=json.dumps(params, sort_keys=True, default=str),
            seed=seed,
            image_size=image_size,
            mlflow_run_id=mlflow_run_id,
            status="RUNNING",
            worker_id=worker_id,
            lease_expires_at=utcnow() + timedelta(seconds=lease_seconds),
        )
        s.add(run)
        s.flush()
        return run.id


def update_run(run_id: int, url: str | None = None, **fields: Any) -> None:
    """Set columns of a run (e.g. status, metrics_json, fit_seconds)."""
    with session_scope(url) as s:
        run = s.get(Run, run_id)
        if run is None:
            raise KeyError(f"no run with id {run_id}")
        for name, value in fields.items():
            if not hasattr(Run, name):
                raise AttributeError(f"Run has no column {name!r}")
            setattr(run, name, value)
        if fields.get("status") in ("FINISHED", "FAILED") and run.ended_at is None:
            run.ended_at = utcnow()


def renew_run_lease(run_id: int, lease_seconds: float, url: str | None = None) -> bool:
    """Prove that the process running `run_id` is alive for another `lease_seconds`; False once it ended."""
    with session_scope(url) as s:
        renewed = s.execute(
            update(Run)
            .where(Run.id == run_id, Run.status == "RUNNING")
            .values(lease_expires_at=utcnow() + timedelta(seconds=lease_seconds))
        ).rowcount
        return renewed == 1


def running_runs(url: str | None = None) -> list[Run]:
    with session_scope(url) as s:
        return list(s.scalars(select(Run).where(Run.status == "RUNNING").order_by(Run.id)))


def fail_run_if_running(run_id: int, error: str, url: str | None = None) -> bool:
    """Mark a RUNNING run FAILED with `error`; False when it had already ended."""
    with session_scope(url) as s:
        done = s.execute(
            update(Run)
            .where(Run.id == run_id, Run.status == "RUNNING")
            .values(status="FAILED", error=error, ended_at=utcnow())
        ).rowcount
        return done == 1


def failed_runs_whose_error_contains(text: str, url: str | None = None) -> list[Run]:
    """FAILED runs whose error holds `text` (taken literally), oldest first."""
    with session_scope(url) as s:
        query = select(Run).where(Run.status == "FAILED", Run.error.contains(text, autoescape=True))
        return list(s.scalars(query.order_by(Run.id)))


def fail_stale_runs(url: str | None = None, older_than_id: int | None = None) -> int:
    """Mark RUNNING runs FAILED (after a crash of the process that ran them); returns how many."""
    with session_scope(url) as s:
        query = select(Run).where(Run.status == "RUNNING")
        if older_than_id is not None:
            query = query.where(Run.id < older_than_id)
        runs = list(s.scalars(query))
        for run in runs:
            run.status = "FAILED"
            run.error = run.error or "interrupted: the process running it stopped"
            run.ended_at = utcnow()
        return len(runs)


def get_run(run_id: int, url: str | None = None) -> Run | None:
    with session_scope(url) as s:
        return s.get(Run, run_id)


def list_runs(
    dataset_name: str | None = None,
    method: str | None = None,
    status: str | None = None,
    url: str | None = None,
) -> list[Run]:
    """Runs, newest first, optionally filtered."""
    with session_scope(url) as s:
        query = select(Run)
        if dataset_name:
            query = query.where(Run.dataset_name == dataset_name)
        if method:
            query = query.where(Run.method == method)
        if status:
            query = query.where(Run.status == status)
        return list(s.scalars(query.order_by(Run.id.desc())))


def delete_run(run_id: int, url: str | None = None) -> None:
    with session_scope(url) as s:
        s.execute(delete(ImagePrediction).where(ImagePrediction.run_id == run_id))
        s.execute(delete(Run).where(Run.id == run_id))


# --- per-image predictions -----------------------------------------------------------------------


@dataclass(frozen=True)
class PredictionRow:
    image_name: str
    label: int
    defect_type: str
    score: float
    score_normalized: float  # embeddings are not kept here: they are in the run's predictions artifact


def add_predictions(run_id: int, rows: Sequence[PredictionRow], url: str | None = None) -> None:
    """Store per-image results of a run (one transaction)."""
    with session_scope(url) as s:
        run = s.get(Run, run_id)
        if run is None:
            raise KeyError(f"no run with id {run_id}")
        image_ids: dict[str, int] = {}
        if run.dataset_id is not None:
            image_ids = dict(
                s.execute(select(Image.relpath, Image.id).where(Image.dataset_id == run.dataset_id)).all()
            )
        s.add_all(
            ImagePrediction(
                run_id=run_id,
                image_id=image_ids.get(row.image_name),
                image_name=row.image_name,
                label=int(row.label),
                defect_type=row.defect_type,
                score=float(row.score),
                score_normalized=float(row.score_normalized),
            )
            for row in rows
        )


def get_predictions(run_id: int, url: str | None = None) -> list[PredictionRow]:
    """Per-image results of a run in the order they were stored."""
    with session_scope(url) as s:
        rows = s.scalars(
            select(ImagePrediction).where(ImagePrediction.run_id == run_id).order_by(ImagePrediction.id)
        )
        return [
            PredictionRow(
                image_name=r.image_name,
                label=r.label,
                defect_type=r.defect_type,
                score=r.score,
                score_normalized=r.score_normalized,
            )
            for r in rows
        ]
