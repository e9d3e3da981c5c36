"""Opening the MLflow tracking store. A SQLite store is created or upgraded by one process at a time (two
processes doing it at once break it for good); one left half-migrated by an older version is rebuilt when
it holds no runs, else refused with what to do. A tracking server is asked with bounded timeouts and
retries, and one that does not answer raises TrackingServerDown (one sentence) instead of hanging; one that
refuses the credentials or the host name raises TrackingServerRefused (one sentence, no password)."""

from __future__ import annotations

import functools
import os
import re
import sqlite3
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from db import locations
from db.locks import file_lock, lock_path_for
from db.schema import StoreError

_ready: set[str] = set()
_guard = threading.Lock()


class MlflowStoreError(StoreError):
    """The MLflow store cannot be opened as it is; the message says what to do."""


class TrackingServerDown(StoreError):
    """The tracking server at `uri` did not answer, retries included."""

    def __init__(self, message: str, uri: str) -> None:
        super().__init__(message)
        self.uri = uri


class TrackingServerRefused(StoreError):
    """The tracking server at `uri` answered 401 (no or wrong credentials) or refused the host name (403)."""

    def __init__(self, message: str, uri: str) -> None:
        super().__init__(message)
        self.uri = uri


# MLflow's own defaults (120 s per request, 7 retries with backoff factor 2) are sized for rate-limited hosted
# services and kept a training waiting over 8 minutes on a stopped server. A workbench's own server answers
# in milliseconds or not at all: a refused call now gives up after about 3 s, a hung one after about 1 min.
HTTP_REQUEST_DEFAULTS = {
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "20",  # seconds per try (connect, or between bytes of the answer)
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",  # waits 0 s, then 2 s (+ up to 1 s jitter) between tries
    "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true",  # "View run at URL" lines would break `runs --json`
}


def public_uri(uri: str) -> str:
    """`uri` without a user name or password, for messages."""
    parts = urllib.parse.urlsplit(uri)
    if "@" not in parts.netloc:
        return uri
    return urllib.parse.urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))


def is_server(uri: str) -> bool:
    return uri.startswith(("http://", "https://"))


def client(uri: str | None = None) -> Any:
    """An explicit MlflowClient on a store that is ready (never the process-global fluent API). For a
    tracking server, requests are bounded (HTTP_REQUEST_DEFAULTS unless the environment sets them) and a
    server that does not answer raises TrackingServerDown."""
    from mlflow.tracking import MlflowClient

    uri = uri or locations.mlflow_uri()
    if uri.startswith("sqlite:///"):
        ensure_sqlite_store(uri)
    if not is_server(uri):
        return MlflowClient(tracking_uri=uri)
    for name, value in HTTP_REQUEST_DEFAULTS.items():
        os.environ.setdefault(name, value)  # MLflow reads them on every request; the user's values win
    return _ServerClient(MlflowClient(tracking_uri=uri), uri)


def _refused(exc: BaseException, uri: str) -> str | None:
    """One sentence when `exc` is the server refusing who asks (HTTP 401) or the host name asked for (its
    --allowed-hosts); None otherwise. Neither the user name's password nor the URI's ever goes in it."""
    text = str(exc)
    host = urllib.parse.urlsplit(uri).netloc.rsplit("@", 1)[-1]
    if "Invalid Host header" in text:
        return (
            f"the tracking server at {uri} refused the host name {host} (HTTP 403): start it with "
            f"--allowed-hosts naming {host}, as docs/team-server.md's command does"
        )
    if re.search(r"error code 401\b", text):
        return (
            f"the tracking server at {uri} asks who you are (HTTP 401): set MLFLOW_TRACKING_USERNAME and "
            "MLFLOW_TRACKING_PASSWORD to an account of that server (they are wrong or missing)"
        )
    return None


def _did_not_answer(exc: BaseException) -> str | None:
    """Why `exc` (or an error it came from) means that the server did not answer, or None."""
    import requests

    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, requests.exceptions.Timeout):
            return "timed out"
        if isinstance(seen, requests.exceptions.ConnectionError):
            found = re.search(
                r"connection (refused|reset|aborted)|name or service not known", str(seen), re.I
            )
            return found.group(0).lower() if found else "no connection"
        seen = seen.__cause__ or seen.__context__
    return None


class _ServerClient:
    """An MlflowClient for a tracking server whose calls raise TrackingServerDown when it does not answer."""

    def __init__(self, inner: Any, uri: str) -> None:
        self._inner, self._uri = inner, uri

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._inner, name)
        if not callable(value):
            return value

        @functools.wraps(value)
        def call(*args: Any, **kwargs: Any) -> Any:
            try:
                return value(*args, **kwargs)
            except Exception as exc:
                refused = _refused(exc, public_uri(self._uri))
                if refused is not None:
                    raise TrackingServerRefused(refused, public_uri(self._uri)) from exc
                why = _did_not_answer(exc)
                if why is None:
                    raise
                tries = int(os.environ.get("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")) + 1
                uri = public_uri(self._uri)
                message = f"the tracking server at {uri} did not answer ({why}, {tries} tries)"
                raise TrackingServerDown(message, uri) from exc

        return call


def answers(uri: str, timeout: float = 3.0) -> bool:
    """One quick try without retries: False when the tracking server at `uri` refuses or does not answer
    now; True when it answers (any HTTP status) and for a store that is not a server."""
    if not is_server(uri):
        return True
    try:
        with urllib.request.urlopen(f"{public_uri(uri).rstrip('/')}/health", timeout=timeout):
            return True
    except urllib.error.HTTPError:
        return True  # it answered, if only to say no
    except (OSError, ValueError):
        return False


def _open(uri: str) -> None:
    from mlflow.tracking import MlflowClient

    MlflowClient(tracking_uri=uri).search_experiments(max_results=1)  # creates or checks the schema


def _count_runs(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        return conn.execute("SELECT count(*) FROM runs").fetchone()[0] if "runs" in tables else 0


def _drop_interrupted_copies(path: Path) -> list[str]:
    """Drop `_alembic_tmp_X` tables whose original X still exists (a batch migration stopped half-way)."""
    with sqlite3.connect(path) as conn:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        stale = [
            t for t in tables if t.startswith("_alembic_tmp_") and t.removeprefix("_alembic_tmp_") in tables
        ]
        for table in stale:
            conn.execute(f'DROP TABLE "{table}"')
    return stale


def _forget_engine(uri: str) -> None:
    """Close MLflow's cached engine for `uri`: its pooled connections would keep using the moved file."""
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    engine = SqlAlchemyStore._engine_map.pop(uri, None)
    if engine is not None:
        engine.dispose()


def ensure_sqlite_store(uri: str) -> None:
    """Create or upgrade the SQLite MLflow store at `uri` once per process, under an inter-process lock."""
    with _guard:
        if uri in _ready:
            return
        path = Path(uri.removeprefix("sqlite:///"))
        path.parent.mkdir(parents=True, exist_ok=True)
        with file_lock(lock_path_for(uri), what="the MLflow store"):
            if path.exists():
                _drop_interrupted_copies(path)  # else the next migration fails on "table already exists"
            try:
                _open(uri)
            except Exception as exc:
                _repair(uri, path, exc)
        _ready.add(uri)


def _repair(uri: str, path: Path, exc: Exception) -> None:
    first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
    runs = _count_runs(path)
    if runs:
        raise MlflowStoreError(
            f"the MLflow store {path} cannot be opened ({first_line}); it holds {runs} runs, so it is left as "
            f"it is. Back it up, then try `mlflow db upgrade sqlite:///{path}`; if that fails too, move the "
            "file aside and the next command starts a fresh store (the results store keeps every run's metrics)."
        ) from exc
    aside = path.with_name(f"{path.name}.broken-{time.strftime('%Y%m%d-%H%M%S')}")
    _forget_engine(uri)
    path.rename(aside)
    print(
        f"The MLflow store {path.name} was left half-migrated ({first_line}) and held no runs: "
        f"moved it to {aside.name} and made a fresh one.",
        file=sys.stderr,
    )
    _open(uri)
