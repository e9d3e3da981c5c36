"""A real Ray cluster for one test (`ray.cluster_utils.Cluster`: a head and optional worker nodes, each a raylet
with its agents, on this machine), the `python -m engine` commands the test runs against it, and the check that
nothing of it survives the test.

Every process of the test carries WORKBENCH_RAY_TEST=<its Ray temp dir> in its environment (the nodes and the
dispatcher inherit it), so the check finds them however they were started, and only them."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from engine.executors.local import worker_log_path
from tests.e2e.harness import alive, stop

PROJECT_ROOT = Path(__file__).resolve().parents[2]
MARKER = "WORKBENCH_RAY_TEST"
GONE_SECONDS = 30.0


def marked_processes(marker: str) -> list[int]:
    """Live processes (other than this one) whose environment has MARKER=marker."""
    wanted = f"{MARKER}={marker}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if wanted in environ.split(b"\0") and alive(int(entry.name)):
            found.append(int(entry.name))
    return sorted(found)


def command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def parent_of(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


@dataclass
class RayTestCluster:
    """A running cluster: `cluster` (ray.cluster_utils.Cluster), its temp dir and the commands started on it."""

    cluster: object
    temp_dir: Path
    commands: list[subprocess.Popen] = field(default_factory=list)
    stopped: bool = False

    @property
    def address(self) -> str:
        return self.cluster.address

    def engine(self, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
        """Start `python -m engine ARGS` with this test's environment (and `env` on top)."""
        proc = subprocess.Popen(
            [sys.executable, "-m", "engine", *args],
            cwd=PROJECT_ROOT,
            env={**os.environ, **(env or {})},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.commands.append(proc)
        return proc

    def raylet_pid(self, node: object) -> int:
        return node.all_processes["raylet"][0].process.pid

    def node_of(self, pid: int) -> object | None:
        """The node whose raylet started the Ray worker process `pid`."""
        parent = parent_of(pid)
        return next((n for n in self.cluster.list_all_nodes() if self.raylet_pid(n) == parent), None)

    def stop(self) -> list[int]:
        """Stop the commands, the dispatcher and every node, as `ray stop` would; the ids of the test's processes
        still alive after that (none, when nothing was orphaned)."""
        self.stopped = True
        for proc in self.commands:
            if proc.poll() is None:
                proc.kill()
            proc.communicate()
        stop([p for p in marked_processes(str(self.temp_dir)) if " -m engine " in command_line(p) + " "])
        self.cluster.shutdown()
        deadline = time.monotonic() + GONE_SECONDS
        while marked_processes(str(self.temp_dir)) and time.monotonic() < deadline:
            time.sleep(0.5)
        return [f"{p}: {command_line(p)[:120]}" for p in marked_processes(str(self.temp_dir))]


@pytest.fixture
def ray_cluster(workbench_env, monkeypatch) -> Iterator[Callable[..., RayTestCluster]]:
    """`start(head_cpus=1, workers=0, **head_args)`: a cluster whose nodes inherit the environment as it is then
    (as `ray start` would), with RAY_ADDRESS pointing at it; stopped, and checked for survivors, at the end."""
    ray_cluster_utils = pytest.importorskip("ray.cluster_utils", reason="ray is not installed")
    started: list[RayTestCluster] = []
    temp_dirs: list[Path] = []

    def start(head_cpus: int = 1, workers: int = 0, **head_args: object) -> RayTestCluster:
        temp_dir = Path(tempfile.mkdtemp(prefix="rwb", dir="/tmp"))  # short: Ray's socket paths must fit
        temp_dirs.append(temp_dir)
        monkeypatch.setenv(MARKER, str(temp_dir))
        (temp_dir / "ray").mkdir()
        monkeypatch.setenv("RAY_TMPDIR", str(temp_dir))  # Ray's address file too, not /tmp/ray
        args = dict(num_cpus=head_cpus, temp_dir=str(temp_dir), include_dashboard=False, **head_args)
        cluster = ray_cluster_utils.Cluster(initialize_head=True, head_node_args=args)
        running = RayTestCluster(cluster, temp_dir)
        started.append(running)
        for _ in range(workers):
            cluster.add_node(num_cpus=1, temp_dir=str(temp_dir))
        cluster.wait_for_nodes()
        monkeypatch.setenv("RAY_ADDRESS", cluster.address)
        monkeypatch.setenv("WORKBENCH_EXECUTOR", "ray")
        return running

    yield start
    left = [p for running in started if not running.stopped for p in running.stop()]
    for temp_dir in temp_dirs:
        left += stop(marked_processes(str(temp_dir)))  # of a cluster that failed to start
        shutil.rmtree(temp_dir, ignore_errors=True)
    assert not left, f"processes of the test's Ray cluster survived it: {left}"


def dispatcher_log() -> str:
    path = worker_log_path("ray")
    return path.read_text(errors="replace") if path.exists() else ""


def nodes_that_ran(log: str) -> dict[int, str]:
    """job id -> the Ray node id that ran it to its end, from the dispatcher's log."""
    return {int(m[1]): m[2] for m in re.finditer(r"job (\d+): \w+ on Ray node (\w+)", log)}
