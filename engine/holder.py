"""This process as the holder of jobs and runs: its name in the store, the leases it holds, the one heartbeat
thread that renews them, and its SIGTERM handling (an exit held back while a step must not be cut in two).

A worker, a Ray task or dispatcher, and the `train` command each make one `Holder` and pass it down to
whatever takes a lease (engine.jobs, engine.tracking). Recovering the rows of holders that are gone is
engine.recovery's."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

RENEW_SECONDS = 5.0  # how often a holder renews (and a running job proves its worker is alive)

Renew = Callable[[], bool | None]  # renews one lease; False once what it holds has ended


class Holder:
    """One process holding leases: `name` is `host:pid:random`, `holding` renews a lease every `every` seconds
    from one heartbeat thread while the body runs, `exiting_on_sigterm` turns SIGTERM into SystemExit, held
    back inside `uninterrupted` steps."""

    def __init__(self, every: float = RENEW_SECONDS) -> None:
        self.name = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        self.every = every
        self._leases: dict[str, Renew] = {}
        self._beating = threading.Lock()  # held while the thread renews; releasing a lease waits for it
        self._stop = threading.Event()  # a new one for each heartbeat thread
        self._thread: threading.Thread | None = None
        self._critical_depth = 0
        self._pending_exit: str | None = None

    # --- leases ----------------------------------------------------------------------------------

    @contextmanager
    def holding(self, key: str, renew: Renew) -> Iterator[None]:
        """Renew a lease (`renew`) while the body runs; epochs may be long. It is no longer renewed once
        `renew` returns False (what it holds has ended, e.g. marked FAILED by someone else)."""
        with self._beating:
            if key in self._leases:
                raise ValueError(f"{self.name} already holds {key!r}")
            self._leases[key] = renew
            if self._thread is None:
                self._stop = threading.Event()
                self._thread = threading.Thread(
                    target=self._beat, args=(self._stop,), name=f"leases-{self.name}", daemon=True
                )
                self._thread.start()
        try:
            yield
        finally:
            self._release(key)

    def held(self) -> list[str]:
        """The keys of the leases renewed now."""
        return list(self._leases)

    def _release(self, key: str) -> None:
        with self._beating:  # a renewal under way ends first
            self._leases.pop(key, None)
            thread = self._thread if not self._leases else None
            if thread is not None:
                self._thread = None
                self._stop.set()
        if thread is not None:
            thread.join()

    def _beat(self, stop: threading.Event) -> None:
        while not stop.wait(self.every):
            with self._beating:
                if stop.is_set():
                    return
                for key, renew in list(self._leases.items()):
                    try:
                        if renew() is False:
                            del self._leases[key]
                    except Exception:  # a busy store must not kill the run; the next beat retries
                        continue

    # --- SIGTERM at safe points ------------------------------------------------------------------
    # A SystemExit raised in the middle of opening a run's record (after its RUNNING row is written, before
    # the record can fail it) would leave the run RUNNING: `uninterrupted` holds the exit back until the step
    # is over.

    @contextmanager
    def exiting_on_sigterm(self) -> Iterator[None]:
        """SIGTERM raises SystemExit (the run or job ends FAILED, not RUNNING forever) while the body runs; the
        previous handler comes back after. Only the main thread can handle signals: elsewhere nothing changes."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = signal.signal(signal.SIGTERM, self.on_sigterm)
        try:
            yield
        finally:
            signal.signal(signal.SIGTERM, previous)

    def on_sigterm(self, signum: int, frame: object) -> None:
        """Raise SystemExit now, or at the end of the current `uninterrupted` step. The exit also stays asked
        for: a handler that runs inside a garbage collector's callback (SQLAlchemy has some) raises where
        Python prints and drops the exception, so `exit_if_asked` raises it again at the next safe point."""
        message = f"stopped by signal {signum} (SIGTERM)"
        self._pending_exit = message
        if self._critical_depth:
            return
        raise SystemExit(message)

    def exit_if_asked(self) -> None:
        """Raise the SIGTERM exit asked for, unless inside an `uninterrupted` step (it is raised at its end)."""
        if self._pending_exit is not None and not self._critical_depth:
            raise SystemExit(self._pending_exit)

    @contextmanager
    def uninterrupted(self) -> Iterator[None]:
        """Hold back a SIGTERM exit until this step has finished (its state is then consistent)."""
        self._critical_depth += 1
        try:
            yield
        finally:
            self._critical_depth -= 1
            if not self._critical_depth and self._pending_exit is not None:
                message, self._pending_exit = self._pending_exit, None
                raise SystemExit(message)
