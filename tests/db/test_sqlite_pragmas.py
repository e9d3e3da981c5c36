"""A new SQLite connection switches the file to WAL even while another process holds a write lock: SQLite
answers that switch with "database is locked" at once, ignoring the busy timeout, which made two `train`
commands on a fresh store fail at random."""

from __future__ import annotations

import sqlite3
import threading
import time

import pytest

from db import store


def _holding_a_write_lock(path):
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("CREATE TABLE t (x)")
    holder.execute("BEGIN IMMEDIATE")
    holder.execute("INSERT INTO t VALUES (1)")
    return holder


def test_the_switch_to_wal_waits_for_a_lock_held_elsewhere(tmp_path):
    path = tmp_path / "fresh.db"
    holder = _holding_a_write_lock(path)
    with pytest.raises(sqlite3.OperationalError, match="locked"):  # what SQLite itself does
        sqlite3.connect(path, timeout=30).execute("PRAGMA journal_mode=WAL")
    release = threading.Timer(0.3, lambda: holder.execute("COMMIT"))
    release.start()
    conn = sqlite3.connect(path, timeout=30)
    began = time.perf_counter()
    store._sqlite_pragmas(conn, None)
    waited = time.perf_counter() - began
    release.join()
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert waited >= 0.25  # it waited for the other connection instead of failing
    assert conn.execute("SELECT x FROM t").fetchall() == [(1,)]


def test_a_file_already_in_wal_is_not_switched_again(tmp_path, monkeypatch):
    path = tmp_path / "wal.db"
    sqlite3.connect(path).execute("PRAGMA journal_mode=WAL")
    holder = _holding_a_write_lock(path)  # a writer holds the lock: only reading the mode is possible
    monkeypatch.setattr(store, "WAL_TRIES", 1)  # no retries: it must not need the lock at all
    conn = sqlite3.connect(path, timeout=30)
    store._sqlite_pragmas(conn, None)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    holder.execute("COMMIT")
