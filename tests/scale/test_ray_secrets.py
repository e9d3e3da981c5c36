"""No secret passes through Ray: after a Ray sweep on PostgreSQL, the store's password is in none of Ray's
session files (runtime_env_agent.log among them) nor in the dispatcher's log. The Ray workers log in with the
WORKBENCH_DB_URL their node was started with, as `ray start` on a team server is."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.exc import ProgrammingError
from sqlalchemy.pool import NullPool

from db.store import Store
from engine import jobs
from engine.executors.local import worker_log_path


@pytest.fixture
def pg_secret(pg_url: str) -> Iterator[tuple[str, bytes]]:
    """(a URL of pg_url's database, what of its password to look for). The database is owned by a role of its
    own whose password is found nowhere else; where the test server's user may not create roles, the URL is
    pg_url itself and the needle its password as a URL holds it (`:workbench@`)."""
    role, password = f"wb_ray_{secrets.token_hex(4)}", f"pw-{secrets.token_hex(12)}"
    database = make_url(pg_url).database
    admin = create_engine(
        os.environ["WORKBENCH_TEST_PG_URL"], isolation_level="AUTOCOMMIT", poolclass=NullPool
    )
    try:
        with admin.connect() as conn:
            conn.execute(text(f"CREATE ROLE {role} LOGIN PASSWORD '{password}'"))
            conn.execute(text(f'ALTER DATABASE "{database}" OWNER TO {role}'))
    except ProgrammingError:  # no CREATEROLE
        admin.dispose()
        yield pg_url, f":{make_url(pg_url).password}@".encode()
        return
    yield (
        make_url(pg_url).set(username=role, password=password).render_as_string(hide_password=False),
        password.encode(),
    )
    Store.dispose_all()
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
        conn.execute(text(f"DROP ROLE IF EXISTS {role}"))
    admin.dispose()


def test_no_password_reaches_rays_logs_after_a_sweep_on_postgresql(
    pg_secret, ray_cluster, toy_folder, workbench_env, monkeypatch
):
    url, needle = pg_secret
    monkeypatch.setenv("WORKBENCH_DB_URL", url)
    Store.migrate(url)
    cluster = ray_cluster(head_cpus=2)  # its node, like `ray start`, has WORKBENCH_DB_URL with the password
    sweep = cluster.engine(
        "sweep", "--datasets", str(toy_folder), "--methods", "autoencoder,vae", "--presets", "smoke",
        "--executor", "ray", "--wait",
    )  # fmt: skip
    out, err = sweep.communicate(timeout=600)
    assert sweep.returncode == 0, err[-3000:]
    assert [v.status for v in jobs.list_jobs(store=Store.at(url))] == ["DONE", "DONE"]

    files = [p for p in cluster.temp_dir.rglob("*") if p.is_file() and not p.is_socket()]
    assert any(p.name == "runtime_env_agent.log" and p.stat().st_size for p in files)  # Ray did log the env
    files += list(worker_log_path("ray").parent.glob("*.log"))
    leaked = [str(p) for p in files if needle in p.read_bytes()]
    assert leaked == []
    assert cluster.stop() == []
