"""Signing in with a real browser (issue #29.1): a real `streamlit run` server whose store has accounts and
whose secrets name an OpenID Connect provider (a tiny one of this test, tests/faults/oidc_provider.py). The
page shows only the sign-in form; a wrong password gets one sentence; the right one opens the pages with the
name in the sidebar; Sign out closes them; "Sign in with your organisation" runs st.login's whole code flow
through the provider and signs in the account named by the e-mail it vouches for."""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from db import accounts
from db.store import Store
from tests.e2e.harness import CHROMIUM, CHROMIUM_ARGS, PROJECT_ROOT, free_port, healthy, processes_of, stop
from tests.faults.oidc_provider import Provider

ANN_PASSWORD = "ann-is-admin-42"
CAROL = "carol@corp.example"


@pytest.fixture
def team_server(tmp_path: Path, mlflow_template: Path):
    """The dashboard with accounts ann (admin, password) and CAROL (member, provider only) and [auth]."""
    (tmp_path / "mlruns").mkdir()
    shutil.copy(mlflow_template, tmp_path / "mlruns" / "mlflow.db")
    db_url = f"sqlite:///{tmp_path / 'workbench.db'}"
    Store.migrate(db_url)
    accounts.add_account(Store.at(db_url), "ann", "admin", ANN_PASSWORD)
    accounts.add_account(Store.at(db_url), CAROL, "member", None)
    Store.dispose_all()
    port = free_port()
    client_secret = secrets.token_urlsafe(16)
    with Provider("workbench", client_secret, email=CAROL) as provider:
        secrets_file = tmp_path / "secrets.toml"
        secrets_file.write_text(
            "[auth]\n"
            f'redirect_uri = "http://127.0.0.1:{port}/oauth2callback"\n'
            f'cookie_secret = "{secrets.token_urlsafe(32)}"\n'
            f'client_id = "workbench"\nclient_secret = "{client_secret}"\n'
            f'server_metadata_url = "{provider.metadata_url}"\n'
        )
        env = {
            **os.environ,
            "WORKBENCH_DB_URL": db_url,
            "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}",
            "WORKBENCH_DATA_DIR": str(tmp_path / "data"),
            "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false",
        }
        command = [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            "streamlit_app.py",
            "--server.address",
            "127.0.0.1",
        ]
        command += [
            "--server.port",
            str(port),
            "--server.headless",
            "true",
            "--secrets.files",
            str(secrets_file),
        ]
        log = tmp_path / "server.log"
        with open(log, "wb") as out:
            process = subprocess.Popen(
                command,
                cwd=PROJECT_ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        url = f"http://127.0.0.1:{port}/"
        try:
            deadline = time.monotonic() + 120
            while not healthy(url):
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"streamlit did not start:\n{log.read_text(errors='replace')[-3000:]}")
                time.sleep(0.5)
            yield url, provider, db_url, log
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=30)
            stop(processes_of(db_url))


def test_signing_in_with_a_password_and_with_the_identity_provider(team_server):
    if not CHROMIUM.is_file():
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    from tests.e2e.driver import App, no_exception

    url, provider, db_url, log = team_server
    expect = sync_api.expect
    expect.set_options(timeout=90_000)  # the first run migrates and imports torch on a busy machine
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_context(viewport={"width": 1400, "height": 900}).new_page()
            page.set_default_timeout(90_000)
            app = App(page)
            page.goto(url)
            sign_in = page.get_by_role("button", name="Sign in", exact=True)
            expect(sign_in).to_be_visible()
            expect(page.get_by_test_id("stSidebarNav")).to_have_count(0)  # no page before signing in

            page.get_by_role("textbox", name="Name").fill("ann")
            page.get_by_role("textbox", name="Password").fill("not-her-password")
            app.act(sign_in.click, "a wrong password")
            expect(page.get_by_text(accounts.WRONG)).to_be_visible()
            expect(page.get_by_test_id("stSidebarNav")).to_have_count(0)

            page.get_by_role("textbox", name="Password").fill(ANN_PASSWORD)
            app.act(sign_in.click, "the right password")
            sidebar = page.get_by_test_id("stSidebar")
            expect(sidebar.get_by_text("ann · admin")).to_be_visible()
            expect(page.get_by_role("heading", name="Datasets", exact=True)).to_be_visible()
            expect(sidebar.get_by_label("Your name")).to_have_count(0)
            no_exception(page)

            app.act(sidebar.get_by_role("button", name="Sign out").click, "Sign out")
            expect(sign_in).to_be_visible()
            expect(page.get_by_test_id("stSidebarNav")).to_have_count(0)

            page.get_by_role(
                "button", name="Sign in with your organisation"
            ).click()  # leaves for the provider
            expect(sidebar.get_by_text(f"{CAROL} · member")).to_be_visible()  # ... and comes back signed in
            expect(page.get_by_role("heading", name="Datasets", exact=True)).to_be_visible()
            no_exception(page)
        finally:
            browser.close()
    assert provider.tokens_issued == 1, log.read_text(errors="replace")[-3000:]
    assert accounts.get_account(Store.at(db_url), CAROL).last_sign_in_at is not None
    assert ANN_PASSWORD not in log.read_text(errors="replace")  # the server log never shows a password
