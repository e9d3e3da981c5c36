"""The team server's secrets (issue #29.2): a real `mlflow server --app-name basic-auth` on 127.0.0.1 with
--allowed-hosts, and the results store on PostgreSQL under a role of this test with a password of its own.
A smoke run trained through them leaves neither password on a page (AppTest of every page, signed in), in a
CLI line, in the server's log, in the run's MLflow params, tags or artifacts, nor in the Review report; a
request without credentials gets 401, and a client with wrong ones one sentence without them."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

PROJECT_ROOT = Path(__file__).resolve().parents[2]
ROUTER = str(PROJECT_ROOT / "streamlit_app.py")
PAGES = [f"dashboard/pages/{p}.py" for p in ("datasets", "label", "train", "compare", "inspect", "review")]
ADMIN_PASSWORD = f"Mlflow-Admin-{secrets.token_hex(6)}"  # the tracking server's admin
PG_PASSWORD = f"Pg-Role-{secrets.token_hex(6)}"  # the results store's role
ANN_PASSWORD = f"Ann-Signs-In-{secrets.token_hex(6)}"  # the dashboard account
WRONG_PASSWORD = f"Wrong-Guess-{secrets.token_hex(6)}"
SECRETS = (ADMIN_PASSWORD, PG_PASSWORD, ANN_PASSWORD, WRONG_PASSWORD)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def basic_auth_server(tmp_path):
    """The README's tracking server: basic-auth, artifacts served, --allowed-hosts; its log in tmp."""
    port = _free_port()
    ini = tmp_path / "basic_auth.ini"
    ini.write_text(
        "[mlflow]\ndefault_permission = READ\n"
        f"database_uri = sqlite:///{tmp_path / 'basic_auth.db'}\nadmin_username = admin\n"
        "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
    )
    env = {
        **os.environ,
        "MLFLOW_AUTH_CONFIG_PATH": str(ini),
        "MLFLOW_AUTH_ADMIN_PASSWORD": ADMIN_PASSWORD,  # read once, when the user store is created
        "MLFLOW_FLASK_SERVER_SECRET_KEY": secrets.token_hex(16),
        "MLFLOW_DISABLE_TELEMETRY": "true",
    }
    log = tmp_path / "mlflow-server.log"
    hosts = f"127.0.0.1:{port},localhost:{port},mlflow-host:{port}"
    command = [sys.executable, "-m", "mlflow", "server", "--app-name", "basic-auth", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--workers", "1", "--allowed-hosts", hosts, "--serve-artifacts"]
    command += ["--backend-store-uri", f"sqlite:///{tmp_path / 'server.db'}"]
    command += ["--artifacts-destination", str(tmp_path / "server-artifacts")]
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
    uri = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while _status(f"{uri}/health") != 200:
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the basic-auth mlflow server did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.5)
        yield uri, port, log
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


def _status(url: str, **headers: str) -> int | None:
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return None


@pytest.fixture
def secret_pg_url(pg_url):
    """`pg_url`'s database owned by a role of this test whose password is PG_PASSWORD; the URL holds it."""
    role = f"wb_secret_{secrets.token_hex(4)}"
    admin = create_engine(pg_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    with admin.connect() as conn:
        if not conn.execute(text("SELECT rolcreaterole FROM pg_roles WHERE rolname = current_user")).scalar():
            pytest.skip("the test PostgreSQL role may not create roles: run .ci/start-services again")
        conn.execute(text(f"CREATE ROLE {role} LOGIN PASSWORD '{PG_PASSWORD}'"))
        conn.execute(text(f"GRANT {role} TO current_user"))
        conn.execute(text(f'ALTER DATABASE "{make_url(pg_url).database}" OWNER TO {role}'))
        conn.execute(text(f"GRANT ALL ON SCHEMA public TO {role}"))
    yield make_url(pg_url).set(username=role, password=PG_PASSWORD).render_as_string(hide_password=False)
    from db.store import Store

    Store.dispose_all()
    base = create_engine(
        os.environ["WORKBENCH_TEST_PG_URL"], isolation_level="AUTOCOMMIT", poolclass=NullPool
    )
    with base.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{make_url(pg_url).database}" WITH (FORCE)'))
        conn.execute(text(f"DROP ROLE IF EXISTS {role}"))
    admin.dispose()
    base.dispose()


def _cli(env: dict[str, str], *args: str, stdin: str = "") -> tuple[int, str]:
    done = subprocess.run(
        [sys.executable, "-m", "engine", *args],
        cwd=PROJECT_ROOT,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=600,
    )
    return done.returncode, done.stdout + done.stderr


def _page_text(at) -> str:
    """Everything an AppTest run sent to the browser: every element's protobuf, as text."""
    found: list[str] = []

    def walk(node) -> None:
        if getattr(node, "proto", None) is not None:
            found.append(str(node.proto))
        for child in getattr(node, "children", {}).values():
            walk(child)

    walk(at._tree)
    return "\n".join(found)


def _leaks(where: str, content: str) -> list[str]:
    return [f"{where} holds {secret[:6]}..." for secret in SECRETS if secret in content]


def test_no_password_reaches_a_page_a_log_an_mlflow_param_or_the_report(
    basic_auth_server, secret_pg_url, toy_folder, tmp_path, monkeypatch
):
    uri, port, server_log = basic_auth_server
    search = f"{uri}/api/2.0/mlflow/experiments/search?max_results=1"
    assert _status(search) == 401  # no credentials: refused, nothing listed
    assert _status(search, Host=f"mlflow-host:{port}") == 401  # a name in --allowed-hosts gets as far
    assert _status(search, Host=f"elsewhere:{port}") == 403  # any other Host header: refused

    host = uri.partition("://")[2]
    env = {
        **os.environ,
        "WORKBENCH_DB_URL": secret_pg_url,
        "WORKBENCH_DATA_DIR": str(tmp_path / "data"),
        "MLFLOW_TRACKING_URI": f"http://admin:{ADMIN_PASSWORD}@{host}",  # the CLI: credentials in the URI
        "MLFLOW_DISABLE_TELEMETRY": "true",
    }
    outputs = {}
    for step, args, stdin in (
        ("migrate", ("migrate",), ""),
        ("import", ("import", str(toy_folder), "--name", "toy"), ""),
        ("users add", ("users", "add", "ann", "--role", "admin", "--password-stdin"), ANN_PASSWORD + "\n"),
        (
            "train",
            (
                "train",
                "--dataset",
                "toy",
                "--method",
                "autoencoder",
                "--preset",
                "smoke",
                "--image-size",
                "32",
                "--json",
            ),
            "",
        ),
        ("runs", ("runs",), ""),
        ("users list", ("users", "list"), ""),
    ):
        code, out = _cli(env, *args, stdin=stdin)
        assert code == 0, f"{step}: {out[-3000:]}"
        outputs[step] = out
    wrong = {**env, "MLFLOW_TRACKING_URI": f"http://admin:{WRONG_PASSWORD}@{host}"}
    code, out = _cli(wrong, "migrate")
    assert code == 3 and out.strip().splitlines()[-1].startswith("error: the tracking server at "), out
    assert "asks who you are (HTTP 401)" in out and "Traceback" not in out
    outputs["migrate with a wrong password"] = out

    # the dashboard: credentials from the environment, as MLflow reads them
    from db import runs as db_runs
    from db.store import Store
    from engine import mlflow_store

    for key, value in {**env, "MLFLOW_TRACKING_URI": uri}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "admin")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", ADMIN_PASSWORD)
    Store.dispose_all()
    [run] = db_runs.list_runs(Store.at(secret_pg_url))
    assert run.status == "FINISHED", run.error
    pages = _visit_pages(run.id)

    from dashboard import review_view
    from dashboard.run_info import run_info

    report = review_view.report_html("toy", [run_info(run)], "ann")
    assert "autoencoder" in report

    client = mlflow_store.client()
    recorded = client.get_run(run.mlflow_run_id).data
    params_and_tags = repr(recorded.params) + repr(recorded.tags)
    assert recorded.params and recorded.tags
    artifacts = Path(client.download_artifacts(run.mlflow_run_id, "", str(tmp_path / "downloaded")))
    readable = [p.read_bytes().decode("latin-1") for p in artifacts.rglob("*") if p.is_file()]
    assert readable, "the run has artifacts"
    stored = repr([(r.params, r.error, r.notes) for r in db_runs.list_runs(Store.at(secret_pg_url))])

    leaks = [leak for step, out in outputs.items() for leak in _leaks(f"CLI {step}", out)]
    leaks += [leak for page, content in pages.items() for leak in _leaks(f"page {page}", content)]
    leaks += _leaks("the report", report) + _leaks("MLflow params and tags", params_and_tags)
    leaks += _leaks("MLflow artifacts", "\n".join(readable)) + _leaks("the results store's runs", stored)
    leaks += _leaks("the tracking server's log", server_log.read_text(errors="replace"))
    assert not leaks, leaks
    assert "MLflow store: http://127.0.0.1" in outputs["migrate"]  # the URI is named, without its password


def _visit_pages(run_id: int) -> dict[str, str]:
    """Sign in as ann and draw every page with the run picked; each page's elements as text."""
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    st.cache_data.clear()
    st.cache_resource.clear()
    at = AppTest.from_file(ROUTER, default_timeout=120)
    at.run()
    at.text_input(key="sign_in_name").input("ann")
    at.text_input(key="sign_in_password").input(ANN_PASSWORD)
    [button] = [b for b in at.button if b.label == "Sign in"]
    button.click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    shown = {"sign-in": _page_text(at)}
    at.session_state["dataset"] = "toy"
    at.session_state["selected_runs"] = {"toy": [run_id]}
    for page in PAGES:
        at.switch_page(page).run()
        assert not at.exception, (page, at.exception)
        shown[page] = _page_text(at)
    assert "ann" in shown[PAGES[0]] and "autoencoder" in shown["dashboard/pages/compare.py"]
    return shown
