"""Driving a Streamlit page in Playwright: each widget action waits for the script run that saw it.

`App.act` reads Streamlit's own messages on the page's websocket (the "Running..." indicator shows too late to
rely on, and the drawing canvas asks for runs of its own); page content is then checked with Playwright's
retrying `expect`."""

from __future__ import annotations

import time
from collections.abc import Callable

from playwright.sync_api import Locator, Page, expect

RUN_MS = 90_000  # one script run after a click, on a busy 2-core machine


class App:
    """The page plus what its websocket shows of Streamlit's script runs.

    `act` needs to know that the run it waits for saw the action: a full run that *started* after the browser
    sent the action's rerun request. A run already under way, or one asked for by a component just before
    (the drawing canvas sends its state when it mounts), may finish after the action without having seen it."""

    def __init__(self, page: Page) -> None:
        from streamlit.proto.BackMsg_pb2 import BackMsg
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        self.page = page
        self.requests = 0  # rerun requests of the whole page (not of a fragment) the browser has sent
        self._started_after = 0  # `requests` when the run under way started
        self.seen_by_last_finished = 0  # `requests` when the last finished run started
        self._back, self._forward = BackMsg, ForwardMsg
        page.on("websocket", self._watch)

    def _watch(self, ws) -> None:
        ws.on("framesent", self._sent)
        ws.on("framereceived", self._received)

    @staticmethod
    def _parse(message, payload: str | bytes):
        if not isinstance(payload, bytes | bytearray):
            return None
        try:
            message.ParseFromString(bytes(payload))
        except Exception:  # not a Streamlit message (nothing else is sent on this socket today)
            return None
        return message

    def _sent(self, payload: str | bytes) -> None:
        msg = self._parse(self._back(), payload)
        if msg is not None and msg.WhichOneof("type") == "rerun_script" and not msg.rerun_script.fragment_id:
            self.requests += 1

    def _received(self, payload: str | bytes) -> None:
        msg = self._parse(self._forward(), payload)
        kind = msg.WhichOneof("type") if msg is not None else None
        if kind == "new_session":  # sent when a full run starts
            self._started_after = self.requests
        elif kind == "script_finished" and msg.script_finished == self._forward.FINISHED_SUCCESSFULLY:
            self.seen_by_last_finished = self._started_after

    def wait_until(self, done: Callable[[], bool], timeout_ms: float, what: str) -> None:
        """Let the page run (its events update the counts) until `done()`; fail naming `what` after the timeout."""
        deadline = time.monotonic() + timeout_ms / 1000
        while not done():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout_ms / 1000:.0f} s waiting for {what}")
            self.page.wait_for_timeout(100)

    def act(self, action: Callable[[], object], what: str, timeout_ms: float = RUN_MS) -> None:
        """Do `action` (a click, a key press...) and wait until the script run it causes has finished."""
        before = self.requests
        action()
        self.wait_until(lambda: self.requests > before, timeout_ms, f"the browser to send {what}")
        self.wait_until(
            lambda: self.seen_by_last_finished > before, timeout_ms, f"the script run after {what}"
        )

    def open(self, title: str) -> None:
        """Open a page from the sidebar navigation and wait for its script run."""
        link = self.page.get_by_test_id("stSidebarNav").get_by_role("link", name=title, exact=True)
        self.act(link.click, f"opening {title}")
        expect(self.page.get_by_role("heading", name=title, exact=True)).to_be_visible()
        no_exception(self.page)

    def choose(self, box: Locator, option: str) -> None:
        """Pick `option` in a selectbox or multiselect."""
        box.click()
        self.act(self.page.get_by_role("option", name=option, exact=True).click, f"choosing {option!r}")
        listbox = self.page.get_by_role("listbox")
        if listbox.count():  # a multiselect stays open, hiding the rest of the page from its users
            self.page.keyboard.press("Escape")
        expect(listbox).to_have_count(0)


def no_exception(page: Page) -> None:
    errors = page.get_by_test_id("stException")
    if errors.count():
        raise AssertionError(
            "the page shows a Streamlit exception:\n" + "\n---\n".join(errors.all_inner_texts())
        )
