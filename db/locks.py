"""An inter-process lock on a file, so that one process at a time creates or upgrades a store."""

from __future__ import annotations

import fcntl
import hashlib
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

LOCK_TIMEOUT_SECONDS = (
    300.0  # creating the MLflow schema takes a few seconds; an upgrade of a big store longer
)


def lock_path_for(url: str) -> Path:
    """The lock file that guards the store at `url`: beside a SQLite file, else in the temp folder."""
    if url.startswith("sqlite:///"):
        db_file = Path(url.removeprefix("sqlite:///"))
        return db_file.with_name(db_file.name + ".lock")
    digest = hashlib.sha256(url.encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"workbench-store-{digest}.lock"


@contextmanager
def file_lock(path: Path, timeout: float = LOCK_TIMEOUT_SECONDS, what: str = "the store") -> Iterator[None]:
    """Hold an exclusive lock on `path` (created if missing); TimeoutError after `timeout` seconds."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise TimeoutError(
                        f"waited {timeout:.0f} s for another process to finish setting up {what} "
                        f"(lock file {path.name}); try again when it is done"
                    ) from None
                time.sleep(0.05)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
