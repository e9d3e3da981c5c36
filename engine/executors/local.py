"""Worker processes on this machine: one detached `python -m engine worker --once --executor KIND`, started
when jobs wait and none runs; it exits when the queue is empty. `local` runs the jobs itself, `ray` is the
Ray dispatcher (engine.executors.ray_dispatch) that owns their Ray tasks. Either holds a lock file (one per
results store and kind) while it runs, so the app can tell that one is alive."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from db import locations
from db.store import Store
from engine.worker_lock import try_lock, worker_lock_path

SPAWN_GRACE_SECONDS = 15.0  # a worker started this recently counts as running before it takes its lock
WORKER_NICE = 10  # a worker trains at a lower CPU priority than the pages people are waiting on


def niceness_asked(nice: int | None = None) -> int:
    """The niceness a worker adds to itself: `nice`, else WORKBENCH_WORKER_NICE, else WORKER_NICE (0 to 19)."""
    if nice is None:
        value = os.environ.get("WORKBENCH_WORKER_NICE", str(WORKER_NICE))
        try:
            nice = int(value)
        except ValueError:
            raise ValueError(
                f"WORKBENCH_WORKER_NICE={value!r}: expected a whole number from 0 to 19"
            ) from None
    if not 0 <= nice <= 19:
        raise ValueError(f"worker niceness {nice}: expected a whole number from 0 to 19")
    return nice


def lower_priority(nice: int | None = None) -> int:
    """Add `niceness_asked(nice)` to this process's Unix niceness, so that its training yields the CPU to the
    dashboard on a shared machine; returns the niceness now in effect."""
    return os.nice(niceness_asked(nice))


LOG_NAMES = {"local": "worker.log", "ray": "ray-dispatcher.log"}  # in the data directory's .workers/


def worker_log_path(kind: str = "local") -> Path:
    """Where the worker or dispatcher started by the app writes its output."""
    return locations.data_dir() / ".workers" / LOG_NAMES[kind]


class LocalProcessExecutor:
    """One detached `python -m engine worker --once --executor KIND` on this machine; it exits when the queue
    is empty."""

    def __init__(self, store: Store | None = None, kind: str = "local") -> None:
        self.store = store
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
        lock = try_lock(worker_lock_path(self.store, self.kind))
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
        if self.store:
            env["WORKBENCH_DB_URL"] = self.store.url
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
