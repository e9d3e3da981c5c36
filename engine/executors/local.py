"""The local executor: one detached `python -m engine worker --once` on this machine, started when jobs wait
and none runs; it exits when the queue is empty. A worker holds a lock file while it runs, so the app can
tell that one is alive."""

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


def worker_lock_path(db_url: str | None = None) -> Path:
    """The lock file a worker holds while it runs; one per results store."""
    url = db_url or locations.db_url()
    digest = hashlib.sha256(url.encode()).hexdigest()[:12]
    return locations.data_dir() / ".workers" / f"worker-{digest}.lock"


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
    """One detached `python -m engine worker --once` on this machine; it exits when the queue is empty."""

    def __init__(self, db_url: str | None = None) -> None:
        self.db_url = db_url
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
        lock = _try_lock(worker_lock_path(self.db_url))
        if lock is None:
            return True
        lock.close()
        return False

    def ensure_running(self) -> bool:
        if self.is_running():
            return False
        log = locations.data_dir() / ".workers" / "worker.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        if self.db_url:
            env["WORKBENCH_DB_URL"] = self.db_url
        with open(log, "ab") as out:
            child = subprocess.Popen(
                [sys.executable, "-m", "engine", "worker", "--once"],
                cwd=locations.PROJECT_ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # survives the dashboard; Ctrl+C on the app does not reach it
            )
        self._children.append((child, time.monotonic()))
        return True
