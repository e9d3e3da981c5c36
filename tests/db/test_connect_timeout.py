"""A database server that accepts a connection but never answers (a hung host, a firewall that lets the SYN
through) ends the store's opening with one sentence after the connect timeout, instead of hanging for minutes."""

from __future__ import annotations

import socket
import time

import pytest

from db import schema
from db.store import Store


def test_a_server_url_gets_a_connect_timeout_unless_it_sets_its_own():
    assert schema.connect_args("postgresql+psycopg://u:p@db.example/wb") == {
        "connect_timeout": schema.CONNECT_TIMEOUT_SECONDS
    }
    assert schema.connect_args("postgresql+psycopg://u:p@db.example/wb?connect_timeout=3") == {}
    assert schema.connect_args("sqlite:///x.db") == {"timeout": 30}


@pytest.mark.slow  # waits out the connect timeout
def test_a_silent_server_is_given_up_with_one_sentence():
    pytest.importorskip("psycopg", reason="no PostgreSQL driver (pip install psycopg)")
    with socket.socket() as silent:  # listens, so the kernel completes the handshake, but never speaks
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        started = time.monotonic()
        with pytest.raises(schema.StoreUnreachable, match=rf"127\.0\.0\.1:{port}.*timed out"):
            Store.at(f"postgresql+psycopg://workbench:secret@127.0.0.1:{port}/wb")
        waited = time.monotonic() - started
    assert waited < 3 * schema.CONNECT_TIMEOUT_SECONDS, f"gave up after {waited:.0f} s"
    Store.dispose_all()
