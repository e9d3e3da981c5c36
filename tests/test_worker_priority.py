"""A local worker trains at a lower CPU priority than the dashboard (`engine worker --nice`,
WORKBENCH_WORKER_NICE)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine.executors.local import WORKER_NICE, niceness_asked

PROJECT = Path(__file__).resolve().parents[1]


def test_the_flag_wins_then_the_environment_then_the_default(monkeypatch):
    monkeypatch.delenv("WORKBENCH_WORKER_NICE", raising=False)
    assert niceness_asked() == WORKER_NICE == 10
    monkeypatch.setenv("WORKBENCH_WORKER_NICE", "5")
    assert niceness_asked() == 5
    assert niceness_asked(0) == 0  # 0 keeps the priority the worker was started with


@pytest.mark.parametrize("nice, value", [(None, "fast"), (None, "25"), (-1, "5"), (20, "5")])
def test_a_bad_niceness_is_refused_naming_it(nice, value, monkeypatch):
    monkeypatch.setenv("WORKBENCH_WORKER_NICE", value)
    with pytest.raises(ValueError, match="expected a whole number from 0 to 19") as refused:
        niceness_asked(nice)
    assert (value if nice is None else str(nice)) in str(refused.value)


@pytest.mark.slow
def test_a_real_worker_runs_at_the_lower_priority(workbench_env):
    """`python -m engine worker` (as the app and `engine sweep` start it) on an empty queue: its niceness."""
    env = {**os.environ, **workbench_env}
    env.pop("WORKBENCH_WORKER_NICE", None)
    base = os.getpriority(os.PRIO_PROCESS, 0)
    worker = subprocess.Popen(
        [sys.executable, "-m", "engine", "worker", "--poll", "0.2"],
        cwd=PROJECT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline, niceness = time.monotonic() + 120, base
        while niceness == base and worker.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
            niceness = os.getpriority(os.PRIO_PROCESS, worker.pid)
        assert worker.poll() is None, worker.stderr.read().decode()[-800:]
        assert niceness - base == min(WORKER_NICE, 19 - base)
    finally:
        worker.kill()
        worker.wait()
