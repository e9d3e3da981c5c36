"""The lock file that a worker (`local`) or Ray dispatcher (`ray`) holds while it runs, one per results store
and kind: how the app tells that one is alive (engine.executors) and how the worker (engine.jobs) and the
dispatcher (engine.executors.ray_dispatch) say so."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from db import locations
from db.store import Store


def worker_lock_path(store: Store | None = None, kind: str = "local") -> Path:
    """The lock file a worker (`local`) or Ray dispatcher (`ray`) holds while it runs; one per results store."""
    url = store.url if store else locations.db_url()
    digest = hashlib.sha256(url.encode()).hexdigest()[:12]
    name = "worker" if kind == "local" else f"{kind}-dispatcher"
    return locations.data_dir() / ".workers" / f"{name}-{digest}.lock"


def try_lock(path: Path) -> Any | None:
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
