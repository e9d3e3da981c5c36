"""Jobs that outlive the dashboard (#29): a sweep queued on the Train page in a real browser (WORKBENCH_EXECUTOR=ray)
survives a restart of the `streamlit run` server mid-sweep: every job ends DONE, is recorded once, the reloaded
page shows them and nothing of Ray is left. It fails when the server's process or process group owns the sweep."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from db import jobs as db_jobs
from db import runs as db_runs
from db.store import Store
from engine import jobs
from engine.data.importer import import_dataset
from engine.executors.ray_dispatch import RayExecutor
from engine.tracking import mlflow_client
from tests.e2e.harness import (
    CHROMIUM,
    CHROMIUM_ARGS,
    PROJECT_ROOT,
    STOP_SECONDS,
    alive,
    free_port,
    healthy,
    processes_of,
    stop,
)
from tests.faults.conftest import wait_for
from tests.scale.ray_cluster import command_line, dispatcher_log, marked_processes

pytestmark = pytest.mark.skipif(
    not CHROMIUM.is_file(), reason=f"no Chromium at {CHROMIUM} (apt-get install chromium)"
)
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
from tests.e2e.driver import App, no_exception  # noqa: E402 - needs playwright

DATASET = "toy"
METHODS = ("autoencoder", "vae")
SEEDS = (0, 1)
ENDED = ("DONE", "FAILED", "CANCELLED")
SERVER_START_SECONDS = 120.0
FIRST_LOAD_MS = 120_000  # the first script run imports torch on a busy 2-core machine
SWEEP_SECONDS = 300


@dataclass
class Dashboard:
    """One `streamlit run streamlit_app.py` in a process group of its own."""

    port: int
    log: Path
    process: subprocess.Popen

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def log_tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:]

    def kill(self) -> None:
        """SIGTERM to the server's process group, SIGKILL after STOP_SECONDS, as a service manager would."""
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=STOP_SECONDS)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=STOP_SECONDS)


def start_dashboard(port: int, log: Path) -> Dashboard:
    """A server with this test's environment (store, MLflow, data dir, RAY_ADDRESS, WORKBENCH_EXECUTOR=ray)."""
    command = [sys.executable, "-m", "streamlit", "run", "streamlit_app.py", "--server.address", "127.0.0.1"]
    command += ["--server.port", str(port), "--server.headless", "true"]
    with open(log, "ab") as out:
        process = subprocess.Popen(
            command,
            cwd=PROJECT_ROOT,
            env={**os.environ, "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false"},
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its process group is what the test ends
        )
    running = Dashboard(port, log, process)
    deadline = time.monotonic() + SERVER_START_SECONDS
    while not healthy(running.url):
        if process.poll() is not None or time.monotonic() > deadline:
            running.kill()
            pytest.fail(f"streamlit did not start on port {port}:\n{running.log_tail()}")
        time.sleep(0.5)
    return running


@pytest.fixture
def dashboards(ray_cluster, workbench_env, tmp_path: Path) -> Iterator[Callable[[int], Dashboard]]:
    """`start(port)`: a dashboard server; every one is stopped before the cluster is, and none may survive."""
    started: list[Dashboard] = []

    def start(port: int) -> Dashboard:
        started.append(start_dashboard(port, tmp_path / "server.log"))
        return started[-1]

    yield start
    for server in started:
        server.kill()
    servers = [p for p in processes_of(workbench_env["WORKBENCH_DB_URL"]) if "streamlit" in command_line(p)]
    assert not stop(servers), "a dashboard server survived SIGKILL"


@pytest.fixture
def headless_chromium() -> Iterator[object]:
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield chromium
        finally:
            chromium.close()


def open_train(app: App, url: str) -> None:
    """Load the app at `url` and open the Train page from the sidebar."""
    app.act(lambda: app.page.goto(url), "the page load", timeout_ms=FIRST_LOAD_MS)
    app.open("Train")


def queue_sweep(app: App) -> None:
    """On the Train page: the toy dataset, the smoke preset, METHODS and SEEDS, then Enqueue."""
    page, expect = app.page, sync_api.expect
    dataset = page.get_by_test_id("stMain").get_by_role("combobox", name="Dataset")
    if dataset.input_value() != DATASET:
        app.choose(dataset, DATASET)
    preset = page.get_by_test_id("stRadio").filter(has_text="Preset")
    app.act(preset.get_by_text("smoke", exact=True).click, "the smoke preset")
    for method in METHODS:
        app.choose(page.get_by_role("combobox", name="Methods"), method)
    seeds = page.get_by_role("textbox", name="Seeds")
    seeds.fill(",".join(map(str, SEEDS)))
    app.act(lambda: seeds.press("Enter"), "the seeds")
    n_jobs = len(METHODS) * len(SEEDS)
    app.act(page.get_by_role("button", name=f"Enqueue {n_jobs} job(s)").click, "Enqueue")
    expect(page.get_by_test_id("stAlertContentSuccess")).to_contain_text("Queued job(s) #")
    no_exception(page)


def jobs_text() -> str:
    return "\n".join(f"#{v.id} {v.method} {v.status} {v.error or ''}" for v in jobs.list_jobs())


def engine_workers(marker: str) -> list[int]:
    """The dispatchers (`python -m engine worker`) of this test that are alive."""
    return [p for p in marked_processes(marker) if " -m engine worker " in command_line(p) + " "]


def test_restarting_the_dashboard_mid_ray_sweep_loses_no_job(
    ray_cluster, dashboards, headless_chromium, toy_folder, workbench_env
):
    sync_api.expect.set_options(timeout=90_000)  # a script run on a busy 2-core machine
    cluster = ray_cluster(head_cpus=1)  # one job at a time: the restart falls in the middle of the sweep
    Store.migrate()
    import_dataset(toy_folder, DATASET)
    Store.dispose_all()
    port = free_port()
    first = dashboards(port)
    page = headless_chromium.new_context(viewport={"width": 1400, "height": 900}).new_page()
    page.set_default_timeout(90_000)
    app = App(page)
    open_train(app, first.url)
    queue_sweep(app)
    queued = {v.id for v in jobs.list_jobs()}
    assert len(queued) == len(METHODS) * len(SEEDS), jobs_text()

    wait_for(lambda: jobs.list_jobs(("RUNNING",)), SWEEP_SECONDS, "a job of the sweep to run on Ray")
    dispatchers = {str(p) for p in engine_workers(str(cluster.temp_dir))}
    first.kill()  # the server that queued the sweep, mid-sweep
    assert not alive(first.process.pid)
    assert not all(jobs.get_job(i).status in ENDED for i in queued), jobs_text()

    second = dashboards(port)  # restarted where the users' browsers find it
    open_train(app, second.url)
    expect = sync_api.expect
    expect(page.get_by_text(re.compile(r"Queue: \d+ active job\(s\)"))).to_be_visible()
    wait_for(lambda: all(v.status in ENDED for v in jobs.list_jobs()), SWEEP_SECONDS, "every job to end")
    views = jobs.list_jobs()
    assert [v.status for v in views] == ["DONE"] * len(queued), f"{jobs_text()}\n{dispatcher_log()[-3000:]}"
    holders = {db_jobs.get_job(Store.at(), v.id).worker_id.split(":")[1] for v in views}
    assert holders == dispatchers, "the jobs were not all held by the dispatcher started before the restart"

    try:
        expect(page.get_by_text(re.compile(r"Queue: 0 active job\(s\)"))).to_be_visible(timeout=30_000)
    except AssertionError as exc:
        raise AssertionError(f"{jobs_text()}\n{second.log_tail()}") from exc
    finished = page.get_by_test_id("stDataFrame").locator("tbody tr").filter(has_text="DONE")
    expect(finished).to_have_count(len(queued))  # the restarted page shows every job of the sweep
    no_exception(page)

    runs = db_runs.list_runs(Store.at())
    assert sorted(r.id for r in runs) == sorted(v.run_id for v in views)  # one run per job
    assert all(r.status == "FINISHED" for r in runs)
    client = mlflow_client(workbench_env["MLFLOW_TRACKING_URI"])
    recorded = client.search_runs([e.experiment_id for e in client.search_experiments()])
    assert sorted(r.info.run_id for r in recorded) == sorted(
        r.mlflow_run_id for r in runs
    )  # one MLflow run each

    second.kill()
    wait_for(lambda: not RayExecutor().is_running(), 60, "the dispatcher to exit with the queue empty")
    assert cluster.stop() == []  # no raylet, agent, worker, dispatcher or server of this test is left
