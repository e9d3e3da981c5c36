"""A store's server goes away during `train`: a real `mlflow server` killed with SIGKILL, a real PostgreSQL
stopped in immediate mode. The command ends within seconds with one sentence, and once the server is back
the next command shows the run FAILED in both stores."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

from db import runs as db_runs
from db.store import Store
from engine import tracking
from tests.faults.conftest import wait_for

LONG_FIT = ("--preset", "smoke", "--set", "epochs=5000", "--image-size", "32")  # minutes unless stopped
SHORT_FIT = ("--preset", "smoke", "--set", "epochs=150", "--image-size", "32")  # some 15 s on 2 busy cores
PG_PASSWORD = "s3cret-Pw"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _running_run():
    runs = db_runs.running_runs(Store.at())
    return runs[0] if runs else None


def _one_sentence_error(proc: subprocess.Popen, timeout: float) -> tuple[str, str, float]:
    """The last stderr line of a command that must fail within `timeout` s, all its stderr, its duration."""
    started = time.monotonic()
    _, err = proc.communicate(timeout=timeout)
    took = time.monotonic() - started
    assert "Traceback" not in err, err[-3000:]
    assert proc.returncode == 3, err[-3000:]
    last = err.strip().splitlines()[-1]
    assert last.startswith("error: ") and last.count(". ") == 0, last
    return last, err, took


def _runs_listing(engine_cli) -> list[dict]:
    listing = engine_cli("runs", "--json")
    out, err = listing.communicate(timeout=180)
    assert listing.returncode == 0, err[-3000:]
    return json.loads(out)


class MlflowServer:
    """A real `mlflow server` on one port and one backend store, that can be killed and started again."""

    def __init__(self, root: Path) -> None:
        self.root, self.port = root, _free_port()
        self.uri = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        command = [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(self.port)]
        command += ["--workers", "1", "--backend-store-uri", f"sqlite:///{self.root / 'server.db'}"]
        command += ["--serve-artifacts", "--artifacts-destination", str(self.root / "artifacts")]
        self.proc = subprocess.Popen(
            command,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"},
            start_new_session=True,  # its workers are killed with it
        )

        def healthy() -> bool:
            assert self.proc.poll() is None, "mlflow server exited"
            try:
                with urllib.request.urlopen(f"{self.uri}/health", timeout=2):
                    return True
            except OSError:
                return False

        wait_for(healthy, timeout=120, what="the mlflow server to answer")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)


@pytest.fixture
def mlflow_server(tmp_path, workbench_env, monkeypatch):
    """The workbench's MLflow store is this tracking server (for the test and the commands it starts)."""
    server = MlflowServer(tmp_path / "tracking")
    server.root.mkdir()
    server.start()
    workbench_env["MLFLOW_TRACKING_URI"] = server.uri
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server.uri)
    yield server
    server.kill()


def test_a_killed_tracking_server_ends_train_in_seconds_and_its_run_failed_once_back(
    engine_cli, mlflow_server, toy_folder
):
    proc = engine_cli("train", "--dataset", str(toy_folder), "--method", "autoencoder", *LONG_FIT)
    run = wait_for(_running_run, what="the run to start")
    client = tracking.mlflow_client(mlflow_server.uri)
    wait_for(lambda: client.get_run(run.mlflow_run_id).data.metrics, what="the first epoch's losses")
    mlflow_server.kill()  # mid-fit: the next epoch's losses find nobody to log them
    last, _, took = _one_sentence_error(proc, timeout=90)  # MLflow's defaults waited over 8 minutes
    uri = mlflow_server.uri
    assert f"run #{run.id} ended FAILED: the tracking server at {uri} did not answer" in last
    assert took < 60, f"train took {took:.0f} s to give up"
    failed = db_runs.get_run(Store.at(), run.id)
    assert failed.status == "FAILED"
    assert failed.error.startswith(f"the tracking server at {uri} did not answer (connection refused")
    assert f"its MLflow run is marked FAILED once {uri} answers again" in failed.error

    _runs_listing(engine_cli)  # while the server is still away: nothing to do, quickly
    mlflow_server.start()  # the same backend store and port
    rows = {row["run_id"]: row for row in _runs_listing(engine_cli)}
    assert rows[run.id]["status"] == "FAILED"
    assert f"was marked FAILED once {uri} answered again" in rows[run.id]["error"]
    ended = tracking.mlflow_client(uri).get_run(run.mlflow_run_id)
    assert ended.info.status == "FAILED"
    assert "did not answer" in ended.data.tags["workbench.error"]


# --- a throwaway PostgreSQL server (the shared one cannot be stopped: other tests use it) -----------------

PG_BIN = next(iter(sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), reverse=True)), None)


class Postgres:
    """A PostgreSQL cluster of its own in a temporary folder, run as the `postgres` user when we are root."""

    def __init__(self) -> None:
        self.port = _free_port()
        self.folder = Path(tempfile.mkdtemp(prefix="wb-outage-pg-"))
        self.data = self.folder / "data"
        self.url = f"postgresql+psycopg://workbench:{PG_PASSWORD}@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> None:
        as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        done = subprocess.run([*as_postgres, *args], capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr

    def create(self) -> None:
        (self.folder / "pw").write_text(PG_PASSWORD)
        if os.geteuid() == 0:
            shutil.chown(self.folder, "postgres", "postgres")
            shutil.chown(self.folder / "pw", "postgres", "postgres")
        initdb = str(PG_BIN)
        self._run(initdb, "-D", str(self.data), "-U", "workbench", f"--pwfile={self.folder / 'pw'}")

    def start(self) -> None:
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off"
        pg_ctl = str(PG_BIN).replace("initdb", "pg_ctl")
        self._run(pg_ctl, "-D", str(self.data), "-l", str(self.folder / "log"), "-o", options, "-w", "start")

    def stop(self) -> None:
        pg_ctl = str(PG_BIN).replace("initdb", "pg_ctl")
        self._run(pg_ctl, "-D", str(self.data), "-m", "immediate", "-w", "stop")


@pytest.fixture
def own_postgres(workbench_env, monkeypatch):
    """The workbench's results store is a database on a PostgreSQL server of this test's own."""
    if PG_BIN is None:
        pytest.skip("no PostgreSQL server binaries (initdb) under /usr/lib/postgresql")
    pg = Postgres()
    try:
        pg.create()
        pg.start()
        workbench_env["WORKBENCH_DB_URL"] = pg.url
        monkeypatch.setenv("WORKBENCH_DB_URL", pg.url)
        Store.dispose_all()
        yield pg
    finally:
        Store.dispose_all()
        with_server = (pg.data / "postmaster.pid").exists()
        if with_server:
            pg.stop()
        shutil.rmtree(pg.folder, ignore_errors=True)


def test_a_stopped_database_ends_train_with_one_sentence_and_the_run_failed_once_back(
    engine_cli, own_postgres, toy_folder
):
    migrate = engine_cli("migrate")  # a database server is never migrated implicitly
    _, err = migrate.communicate(timeout=180)
    assert migrate.returncode == 0, err[-3000:]
    proc = engine_cli("train", "--dataset", str(toy_folder), "--method", "autoencoder", *SHORT_FIT)
    run = wait_for(_running_run, what="the run to start")
    own_postgres.stop()  # the run goes on and finds no store to write its results to
    last, err, _ = _one_sentence_error(proc, timeout=300)
    assert (
        f"the results store (PostgreSQL database postgres on 127.0.0.1:{own_postgres.port}) is unreachable"
        in last
    )
    assert f"run #{run.id} could not be recorded and will show FAILED once the store answers again" in last
    assert PG_PASSWORD not in err

    own_postgres.start()
    Store.dispose_all()
    rows = {row["run_id"]: row for row in _runs_listing(engine_cli)}
    assert rows[run.id]["status"] == "FAILED"
    assert "stopped while running it" in rows[run.id]["error"]
    assert tracking.mlflow_client().get_run(run.mlflow_run_id).info.status == "FAILED"


def test_a_command_against_a_stopped_database_says_so_in_one_sentence(engine_cli, own_postgres):
    migrate = engine_cli("migrate")
    _, err = migrate.communicate(timeout=180)
    assert migrate.returncode == 0, err[-3000:]
    own_postgres.stop()
    last, err, _ = _one_sentence_error(engine_cli("runs"), timeout=120)
    assert last == (
        f"error: the results store (PostgreSQL database postgres on 127.0.0.1:{own_postgres.port}) is "
        "unreachable (connection refused)"
    )
    assert PG_PASSWORD not in err
