"""The results store as one object: its URL, its engine and its session factory (one per URL per process)."""

from __future__ import annotations

import json
import math
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, ClassVar

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from db import locations, schema

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


def _json_ready(value: Any) -> Any:
    """`value` as plain JSON: NumPy values as Python numbers and lists, a non-finite number as null (JSON has
    no NaN, and PostgreSQL refuses it), anything else unknown (a path) as its text."""
    if isinstance(value, dict):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_ready(v) for v in value]
    if hasattr(value, "tolist"):  # a NumPy scalar or array
        return _json_ready(value.tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def to_json(value: Any) -> str:
    """The text a JSON column stores for `value` (keys sorted, so equal settings compare equal as text)."""
    return json.dumps(_json_ready(value), sort_keys=True)


class Store:
    """The results store at `url`: an `Engine` and a `sessionmaker`. Get it with `Store.at(url)`, which makes
    one per URL per process; every function of the db package takes it as its first argument."""

    _opened: ClassVar[dict[str, Store]] = {}
    _lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, url: str, engine: Engine) -> None:
        self.url = url
        self.engine = engine
        self.sessions: sessionmaker[Session] = sessionmaker(engine, expire_on_commit=False)

    def __repr__(self) -> str:
        return f"Store({schema.describe(self.url)!r})"

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        # Pickled (and hashed by Streamlit's caches) as its URL; unpickled as that URL's store in the process.
        return (Store.at, (self.url,))

    @classmethod
    def at(cls, url: str | None = None) -> Store:
        """The process-wide store at `url` (default `WORKBENCH_DB_URL`). A SQLite file (one machine) is migrated
        on first use, under a lock; a database server is never migrated implicitly: a store behind the code is
        refused with the command to run (`python -m engine migrate`), so workers never change a shared schema."""
        if url is not None and not isinstance(url, str):
            raise TypeError(f"Store.at takes a URL string or None, got {type(url).__name__}")
        url = url or locations.db_url()
        with cls._lock, schema.answering(url):
            if url in cls._opened:
                return cls._opened[url]
            if url.startswith("sqlite"):
                engine = create_engine(url, connect_args=schema.connect_args(url), json_serializer=to_json)
                event.listen(engine, "connect", _sqlite_pragmas)
                cls.migrate(url)
            else:  # a server that may restart: test pooled connections before use
                engine = create_engine(
                    url, pool_pre_ping=True, connect_args=schema.connect_args(url), json_serializer=to_json
                )
                schema.require_current(url)
            store = cls._opened[url] = cls(url, engine)
            return store

    @staticmethod
    def migrate(url: str | None = None) -> str:
        """Bring the schema at `url` to the newest revision (once, under a lock); returns the revision."""
        url = url or locations.db_url()
        with schema.answering(url):
            return schema.migrate(url)

    @classmethod
    def dispose_all(cls) -> None:
        """Close every pooled connection and forget every store (tests switch databases)."""
        with cls._lock:
            for store in cls._opened.values():
                store.engine.dispose()
            cls._opened.clear()

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session that commits on success and rolls back on any error; a database server that does not
        answer raises schema.StoreUnreachable (one sentence with its host and port) instead of a driver error."""
        with schema.answering(self.url), self.sessions() as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise
