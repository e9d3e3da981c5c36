"""What starts the work of the queue, chosen by `WORKBENCH_EXECUTOR`: `local` (a worker process on this
machine, the default) or `ray` (a dispatcher process on this machine that runs one Ray task per job on the
cluster at `RAY_ADDRESS`, started by `ray start`). Either way a page or command only queues jobs and makes
sure such a process runs; the jobs outlive it."""

from __future__ import annotations

import os
from typing import Protocol

from db.store import Store

EXECUTORS = ("local", "ray")


class Executor(Protocol):
    def ensure_running(self) -> bool:
        """Start work for the queued jobs if nothing is running them; True when something was started."""
        ...

    def is_running(self) -> bool:
        """Whether something is running (or about to run) the queue of this results store."""
        ...


def executor_from_config(store: Store | None = None, kind: str | None = None) -> Executor:
    """The executor named by `kind` or `WORKBENCH_EXECUTOR` (default `local`)."""
    kind = kind or os.environ.get("WORKBENCH_EXECUTOR", "local")
    if kind == "local":
        from engine.executors.local import LocalProcessExecutor

        return LocalProcessExecutor(store)
    if kind == "ray":
        from engine.executors.ray_dispatch import RayExecutor

        return RayExecutor(store)
    raise ValueError(f"unknown WORKBENCH_EXECUTOR {kind!r}; choose from {list(EXECUTORS)}")
