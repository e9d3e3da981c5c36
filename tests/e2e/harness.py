"""What the browser test and its fixtures share: locations, the running server, the state handed from step to
step, and finding and ending the processes a test started."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = PROJECT_ROOT / "test-artifacts" / "e2e"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
STOP_SECONDS = 15.0


@dataclass
class Server:
    url: str  # http://127.0.0.1:PORT/
    root: Path  # tmp folder holding the store, MLflow and the data directory
    env: dict[str, str]
    process: subprocess.Popen

    @property
    def db_url(self) -> str:
        return self.env["WORKBENCH_DB_URL"]

    @property
    def log(self) -> Path:
        return self.root / "server.log"

    def log_tail(self, chars: int = 4000) -> str:
        """The end of the server's and the worker's logs, for failure messages."""
        parts = []
        for path in (self.log, self.root / "data" / ".workers" / "worker.log"):
            if path.is_file():
                parts.append(f"--- {path.name} ---\n{path.read_text(errors='replace')[-chars:]}")
        return "\n".join(parts) or "(no server or worker log)"


@dataclass
class Flow:
    """What the ordered steps of a test module hand on to each other; after a failed step the rest skip."""

    failed: str | None = None
    facts: dict[str, object] = field(default_factory=dict)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def healthy(url: str) -> bool:
    """Whether Streamlit answers its health endpoint with 'ok'."""
    try:
        with urllib.request.urlopen(url + "_stcore/health", timeout=2) as response:
            return response.status == 200 and response.read().strip() == b"ok"
    except OSError:
        return False


def alive(pid: int) -> bool:
    """Whether the process exists and has not ended (a zombie has)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def processes_of(db_url: str) -> list[int]:
    """Live processes (other than this one) whose environment points at `db_url`: the server, the workers it
    started (in a session of their own) and anything they started. Only processes this test started carry
    the URL of its tmp store."""
    marker = f"WORKBENCH_DB_URL={db_url}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:  # gone meanwhile, or not ours to read
            continue
        if marker in environ.split(b"\0") and alive(int(entry.name)):
            found.append(int(entry.name))
    return sorted(found)


def stop(pids: list[int]) -> list[int]:
    """SIGTERM, wait up to STOP_SECONDS, SIGKILL; returns the ids still alive after that."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_SECONDS
    while time.monotonic() < deadline and any(alive(p) for p in pids):
        time.sleep(0.2)
    for pid in pids:
        if alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(alive(p) for p in pids):
        time.sleep(0.1)
    return [p for p in pids if alive(p)]
