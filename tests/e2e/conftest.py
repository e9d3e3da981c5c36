"""Fixtures of the browser test: a real `streamlit run` server over a store in tmp, and one headless Chromium
page shared by the ordered steps of a module (Debian's /usr/bin/chromium; `playwright install` is never run).

The dashboard starts `python -m engine worker --once` itself in a session of its own (see
`engine.executors.local.LocalProcessExecutor`), so ending the server's process group does not reach a
worker: teardown also ends every process whose environment names this test's results store, and fails if one
survives."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.harness import (
    ARTIFACTS,
    CHROMIUM,
    CHROMIUM_ARGS,
    PROJECT_ROOT,
    STOP_SECONDS,
    Flow,
    Server,
    free_port,
    healthy,
    processes_of,
    stop,
)

SERVER_START_SECONDS = 120.0


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, mlflow_template: Path) -> Iterator[Server]:
    """`streamlit run streamlit_app.py` on a free port with the store, MLflow and data directory in tmp."""
    root = tmp_path_factory.mktemp("e2e")
    (root / "mlruns").mkdir()
    shutil.copy(mlflow_template, root / "mlruns" / "mlflow.db")  # migrating a fresh one costs seconds
    env = {
        **os.environ,
        "WORKBENCH_DB_URL": f"sqlite:///{root / 'workbench.db'}",
        "MLFLOW_TRACKING_URI": f"sqlite:///{root / 'mlruns' / 'mlflow.db'}",
        "WORKBENCH_DATA_DIR": str(root / "data"),
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "HF_HUB_OFFLINE": "1",
        "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false",
    }
    port = free_port()
    with open(root / "server.log", "wb") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "streamlit",
                "run",
                "streamlit_app.py",
                "--server.address",
                "127.0.0.1",
                "--server.port",
                str(port),
                "--server.headless",
                "true",
            ],
            cwd=PROJECT_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a process group of its own, ended as a whole at teardown
        )
    running = Server(f"http://127.0.0.1:{port}/", root, env, process)
    try:
        deadline = time.monotonic() + SERVER_START_SECONDS
        while not healthy(running.url):
            if process.poll() is not None:
                pytest.fail(f"streamlit exited with {process.returncode}:\n{running.log_tail()}")
            if time.monotonic() > deadline:
                pytest.fail(
                    f"streamlit not healthy after {SERVER_START_SECONDS:.0f} s:\n{running.log_tail()}"
                )
            time.sleep(0.5)
        yield running
    finally:
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=STOP_SECONDS)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=STOP_SECONDS)
        left = stop(processes_of(running.db_url))
        if left:
            pytest.fail(f"processes {left} of the test's server or its workers survived SIGKILL")


@pytest.fixture(scope="module")
def chromium() -> Iterator[object]:
    """Headless Chromium for the module; each Playwright context in it is one person with a session of its own."""
    if not CHROMIUM.is_file():
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def new_page(browser) -> object:
    """A page in a fresh browser context (its own cookies, so its own Streamlit session)."""
    context = browser.new_context(viewport={"width": 1400, "height": 900}, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(60_000)
    return page


@pytest.fixture(scope="module")
def ui(server: Server, chromium) -> Iterator[object]:
    """One Chromium page, shared by the module's steps (it keeps one Streamlit session)."""
    page = new_page(chromium)
    yield page
    page.context.close()


@pytest.fixture(scope="module")
def flow() -> Flow:
    return Flow()


@pytest.fixture(autouse=True)
def _skip_after_a_failed_step(request: pytest.FixtureRequest) -> None:
    """The steps share one page: after a failed one the rest would only fail confusingly, so they skip."""
    if "flow" in request.fixturenames:
        state: Flow = request.getfixturevalue("flow")
        if state.failed:
            pytest.skip(f"an earlier step failed: {state.failed}")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """Remember a failed step (for `_skip_after_a_failed_step`) and screenshot the page it left."""
    report = yield
    if report.failed and report.when in ("setup", "call"):
        funcargs = getattr(item, "funcargs", {})
        state = funcargs.get("flow")
        if isinstance(state, Flow):
            state.failed = item.name
        pages = {"": funcargs.get("ui")} | {f"-{n}": a.page for n, a in enumerate(funcargs.get("people", ()))}
        for suffix, page in pages.items():
            if page is None:
                continue
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(Exception):  # the page may be gone; the failure itself matters more
                page.screenshot(path=ARTIFACTS / f"failed-{item.name}{suffix}.png", full_page=True)
    return report
