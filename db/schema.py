"""The results store's schema: brought to the newest Alembic revision once, under a lock; a store left
half-created by an interrupted start is repaired when it holds no rows, else refused with what to do."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, MetaData, create_engine, func, inspect, pool, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from db.locks import file_lock, lock_path_for

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
VERSION_TABLE = "alembic_version"


class StoreError(RuntimeError):
    """A store (results or MLflow) cannot be opened as it is; the message says what to do."""


class SchemaError(StoreError):
    """The results store's schema cannot be used or upgraded as it is."""


class StoreUnreachable(StoreError):
    """The results store's database server did not answer (stopped, restarting, or its connection broke)."""


# What a database server's words about a lost connection mean, for the one sentence a user reads.
_LOST_CONNECTION = (
    ("connection refused", "connection refused"),
    ("could not translate host name", "unknown host"),
    ("timeout expired", "timed out"),
    ("timed out", "timed out"),
    ("shutting down", "the server was shutting down"),
    ("starting up", "the server was starting up"),
    ("administrator command", "the server was shut down"),
    ("closed the connection", "the server closed the connection"),
    ("connection is closed", "the server closed the connection"),
)


def _lost_connection(exc: DBAPIError, url: str) -> str | None:
    """Why `exc` means that the database server at `url` did not answer, or None for any other error (a
    deadlock or a lock timeout is an answer). PostgreSQL reports a lost connection without an SQLSTATE, or
    with class 08 (connection exception) or 57P01-57P03 (shut down, crashed, cannot connect now)."""
    if url.startswith("sqlite") or not isinstance(exc, OperationalError | InterfaceError):
        return None
    code = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
    if not (exc.connection_invalidated or code is None or code.startswith(("08", "57P0"))):
        return None
    text = str(exc.orig).lower()
    return next((why for words, why in _LOST_CONNECTION if words in text), "the connection was lost")


def server_address(url: str) -> str:
    """`PostgreSQL database NAME on HOST:PORT` for messages (never the user or the password)."""
    parsed = make_url(url)
    port = parsed.port or {"postgresql": 5432, "mysql": 3306}.get(parsed.get_backend_name(), "")
    where = f"{parsed.host or 'localhost'}:{port}" if port else parsed.host or "localhost"
    name = {"postgresql": "PostgreSQL", "mysql": "MySQL"}.get(
        parsed.get_backend_name(), parsed.get_backend_name()
    )
    return f"{name} database {parsed.database} on {where}"


@contextmanager
def answering(url: str) -> Iterator[None]:
    """Turn a database error that means "the server did not answer" into StoreUnreachable, one sentence."""
    try:
        yield
    except DBAPIError as exc:
        why = _lost_connection(exc, url)
        if why is None:
            raise
        raise StoreUnreachable(f"the results store ({server_address(url)}) is unreachable ({why})") from exc


def _alembic_config(url: str):
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def head_revision() -> str:
    """The newest revision in db/migrations."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_alembic_config("sqlite://")).get_current_head()


def current_revision(engine: Engine) -> str | None:
    """The revision the store is at (None for an empty or unversioned store)."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def describe(url: str) -> str:
    """The store's location for messages, without a password."""
    parsed = make_url(url)
    if parsed.drivername.startswith("sqlite"):
        return f"SQLite file {parsed.database}"
    return parsed.render_as_string(hide_password=True)


CONNECT_TIMEOUT_SECONDS = 10  # a database server that never answers a new connection (down host, firewall)


def connect_args(url: str) -> dict[str, int]:
    """The driver options every engine of the store uses: SQLite waits up to 30 s for a lock; a database server
    that does not answer a new connection is given up after CONNECT_TIMEOUT_SECONDS (the URL's own
    `connect_timeout` wins), so a page or a command says so in one sentence instead of hanging for minutes."""
    if url.startswith("sqlite"):
        return {"timeout": 30}
    if url.startswith("postgresql") and "connect_timeout" not in make_url(url).query:
        return {"connect_timeout": CONNECT_TIMEOUT_SECONDS}
    return {}


def _scratch_engine(url: str) -> Engine:
    return create_engine(url, poolclass=pool.NullPool, connect_args=connect_args(url))


def is_current(url: str) -> bool:
    engine = _scratch_engine(url)
    try:
        return current_revision(engine) == head_revision()
    finally:
        engine.dispose()


def require_current(url: str) -> None:
    """Raise SchemaError with the command to run unless the store is at the newest revision."""
    engine = _scratch_engine(url)
    try:
        current = current_revision(engine)
    finally:
        engine.dispose()
    head = head_revision()
    if current != head:
        raise SchemaError(
            f"the results store ({describe(url)}) is at schema revision {current or 'none'} and this version "
            f"needs {head}: run `python -m engine migrate` once (the app does it on start)"
        )


def _repair_unversioned(engine: Engine, url: str) -> None:
    """Tables without a version row are what an interrupted first start leaves: drop them if all are empty."""
    tables = [t for t in inspect(engine).get_table_names() if t != VERSION_TABLE]
    if not tables:
        return
    meta = MetaData()
    meta.reflect(engine, only=tables)
    with engine.begin() as conn:
        filled = [t for t in tables if conn.scalar(select(func.count()).select_from(meta.tables[t]))]
        if filled:
            raise SchemaError(
                f"the results store ({describe(url)}) has tables {sorted(tables)} but no schema version, so an "
                f"earlier start was interrupted while creating it; {sorted(filled)} hold rows, so it is left as "
                "it is. Move it aside (or point WORKBENCH_DB_URL elsewhere) and run `python -m engine migrate` "
                "to start a fresh store."
            )
        meta.drop_all(conn)


def migrate(url: str) -> str:
    """Bring the store at `url` to the newest revision (one process at a time); returns that revision."""
    from alembic import command

    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    head = head_revision()
    engine = _scratch_engine(url)
    try:
        if current_revision(engine) == head:
            return head
        with file_lock(lock_path_for(url), what="the results store"):
            current = current_revision(engine)
            if current == head:
                return head  # another process upgraded it while we waited
            if current is None:
                _repair_unversioned(engine, url)
            command.upgrade(_alembic_config(url), "head")
        return head
    finally:
        engine.dispose()
