"""Sweeps: a grid of datasets x methods x presets x seeds enqueued at once, and waiting for it to end."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Sequence

from db.store import Store
from engine import jobs
from engine.executors import Executor
from engine.recovery import recover_abandoned
from engine.runconfig import RunConfig, preflight

ENDED = ("DONE", "FAILED", "CANCELLED")


def grid(
    datasets: Sequence[str],
    methods: Sequence[str],
    presets: Sequence[str] = ("cpu",),
    seeds: Sequence[int] = (0,),
    user: str = "",
    image_size: int | None = None,
) -> list[RunConfig]:
    """One RunConfig per combination, datasets outermost."""
    return [
        RunConfig(dataset=d, method=m, preset=p, seed=s, user=user, image_size=image_size)
        for d, m, p, s in itertools.product(datasets, methods, presets, seeds)
    ]


def enqueue_sweep(configs: Sequence[RunConfig], store: Store | None = None) -> list[int]:
    """Check every configuration first (nothing is queued when one is bad), then queue them all."""
    for config in configs:
        try:
            preflight(config, store, memory_here=jobs.memory_checked_here())
        except ValueError as exc:
            raise ValueError(f"{config.method} on {config.dataset} (seed {config.seed}): {exc}") from None
    return [jobs.enqueue(config, store=store) for config in configs]


def wait(
    job_ids: Sequence[int],
    executor: Executor,
    store: Store | None = None,
    poll_seconds: float = 1.0,
    timeout: float | None = None,
    on_change: Callable[[dict[int, str]], None] | None = None,
) -> dict[int, str]:
    """Keep the executor running until every job has ended; returns each job's final status.

    Abandoned jobs (a killed task or worker) are marked FAILED on the way, so the sweep always ends."""
    deadline = None if timeout is None else time.monotonic() + timeout
    last: dict[int, str] = {}
    while True:
        recover_abandoned(store)
        statuses = {i: (view.status if (view := jobs.get_job(i, store)) else "GONE") for i in job_ids}
        if statuses != last and on_change is not None:
            on_change(statuses)
        last = statuses
        if all(s in ENDED or s == "GONE" for s in statuses.values()):
            return statuses
        if any(s == "QUEUED" for s in statuses.values()):
            executor.ensure_running()
        if deadline is not None and time.monotonic() > deadline:
            raise TimeoutError(f"sweep not finished after {timeout:.0f} s: {statuses}")
        time.sleep(poll_seconds)
