"""Worker processes on this machine: one detached `python -m engine worker --once --executor KIND`, started
when jobs wait and none runs; it exits when the queue is empty. `local` runs the jobs itself, `ray` is the
Ray dispatcher (engine.executors.ray_dispatch) that owns their Ray tasks. Either holds a lock file (one per
results store and kind) while it runs, so the app can tell that one is alive."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from engine import config as locations

SPAWN_GRACE_SECONDS = 15.0  # a worker started this recently counts as running before it takes its lock


LOG_NAMES = {"local": "worker.log", "ray": "ray-dispatcher.log"}  # in the data directory's .workers/


def worker_lock_path(db_url: str | None = None, kind: str = "local") -> Path:
    """The lock file a worker (`local`) or Ray dispatcher (`ray`) holds while it runs; one per results store."""
    url = db_url or locations.db_url()
    digest = hashlib.sha256(url.encode()).hexdigest()[:12]
    name = "worker" if kind == "local" else f"{kind}-dispatcher"
    return locations.data_dir() / ".workers" / f"{name}-{digest}.lock"


def worker_log_path(kind: str = "local") -> Path:
    """Where the worker or dispatcher started by the app writes its output."""
    return locations.data_dir() / ".workers" / LOG_NAMES[kind]


def _try_lock(path: Path) -> Any | None:
    """An open, exclusively locked file, or None when another process holds the lock."""
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(path, "a+")  # noqa: SIM115 - held open for the worker's lifetime
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return None
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    return handle


class LocalProcessExecutor:
    """One detached `python -m engine worker --once --executor KIND` on this machine; it exits when the queue
    is empty."""

    def __init__(self, db_url: str | None = None, kind: str = "local") -> None:
        self.db_url = db_url
        self.kind = kind
        self._children: list[tuple[subprocess.Popen, float]] = []

    def is_running(self) -> bool:
        now = time.monotonic()
        alive = []
        for child, started in self._children:
            if child.poll() is None:  # poll() also reaps a finished child (no zombies)
                alive.append((child, started))
        self._children = alive
        if any(now - started < SPAWN_GRACE_SECONDS for _, started in alive):
            return True
        lock = _try_lock(worker_lock_path(self.db_url, self.kind))
        if lock is None:
            return True
        lock.close()
        return False

    def ensure_running(self) -> bool:
        if self.is_running():
            return False
        log = worker_log_path(self.kind)
        log.parent.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        if self.db_url:
            env["WORKBENCH_DB_URL"] = self.db_url
        with open(log, "ab") as out:
            child = subprocess.Popen(
                [sys.executable, "-m", "engine", "worker", "--once", "--executor", self.kind],
                cwd=locations.PROJECT_ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # survives the dashboard; Ctrl+C on the app does not reach it
            )
        self._children.append((child, time.monotonic()))
        return True
