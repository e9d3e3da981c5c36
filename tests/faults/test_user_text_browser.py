"""Markdown in user text, in a real browser: a user name, a defect type, a flag note and a comment each hold an
image pointing at a small HTTP server on 127.0.0.1; visiting the pages where they show must send it nothing,
and the text must be visible as typed. (The pages one by one are checked faster in test_user_text_markdown.)"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.e2e.conftest import chromium, new_page, server  # noqa: F401 - the browser test's fixtures
from tests.e2e.harness import CHROMIUM, Server
from tests.synthetic_mvtec import make_mvtec_folder

pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")
from playwright.sync_api import expect  # noqa: E402

from tests.e2e.driver import App, no_exception  # noqa: E402

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.is_file(), reason=f"no Chromium at {CHROMIUM} (apt-get install chromium)"
    ),
]

FIRST_LOAD_MS = 120_000  # the first script run imports torch
FIRST_IMAGE = "test/good/000.png"  # the first image the Label page shows
FLAGGED = "test/square/000.png"


@pytest.fixture
def bait() -> Iterator[tuple[str, list[str]]]:
    """A server on 127.0.0.1 that records every path asked of it: (its address, the paths)."""
    asked: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            asked.append(self.path)
            self.send_response(404)
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", asked
    httpd.shutdown()
    httpd.server_close()


def test_user_text_fetches_nothing_and_shows_as_typed(server: Server, chromium, bait, tmp_path, monkeypatch):  # noqa: F811
    from db import comments, labels
    from db import datasets as db_datasets
    from db.store import Store
    from engine.data.importer import import_dataset
    from engine.run import train_and_evaluate
    from engine.runconfig import RunConfig

    address, asked = bait
    name, defect = f"![n]({address}/name.png)", f"![d]({address}/type.png)"
    note = f"note ![i]({address}/note.png) and [a link]({address}/link)"
    for key in ("WORKBENCH_DB_URL", "MLFLOW_TRACKING_URI", "WORKBENCH_DATA_DIR"):
        monkeypatch.setenv(key, server.env[key])  # this process writes into the server's stores
    Store.dispose_all()
    import_dataset(
        make_mvtec_folder(tmp_path / "toy", n_train=8, n_good=3, defects={"square": 3}, size=32), "toy"
    )
    states = {
        s.relpath: s
        for s in labels.images_to_label(Store.at(), db_datasets.get_dataset(Store.at(), "toy").id)
    }
    labels.save_label(Store.at(), states[FIRST_IMAGE].image_id, shown_version=0, author=name, label=0)
    labels.save_label(
        Store.at(), states[FLAGGED].image_id, shown_version=0, author=name, label=1, defect_type=defect
    )
    run_id = train_and_evaluate(RunConfig("toy", "autoencoder", "smoke", image_size=32, user=name)).run_id
    comments.flag_image(Store.at(), "toy", FLAGGED, name, run_id=run_id, note=note)
    comments.add_comment(Store.at(), "toy", name, note, run_id=run_id)
    Store.dispose_all()

    app = App(new_page(chromium))
    page = app.page

    def nothing_fetched() -> None:
        page.wait_for_timeout(500)  # time for any picture the page asked for to be fetched
        assert asked == [], f"the browser fetched {asked} from the address in the user text"
        assert not page.locator(f'img[src^="{address}"]').count()

    try:
        app.act(lambda: page.goto(server.url), "the first page load", timeout_ms=FIRST_LOAD_MS)
        box = page.get_by_test_id("stSidebar").get_by_role("textbox", name="Your name")
        box.fill(name)
        app.act(lambda: box.press("Enter"), "typing the name")
        app.choose(page.get_by_test_id("stSidebar").get_by_role("combobox", name="Dataset"), "toy")
        app.choose(page.get_by_role("combobox", name="Pictures of"), "toy")  # captioned with defect types
        no_exception(page)
        nothing_fetched()
        expect(page.get_by_text(f"test/{defect}").first).to_be_visible()
        app.open("Label")
        nothing_fetched()
        expect(page.get_by_text(f"version 1 by {name}").first).to_be_visible()
        app.open("Review")
        nothing_fetched()
        expect(page.get_by_text(f"flagged by {name} from run #{run_id}: {note}").first).to_be_visible()
        expect(page.get_by_text(f"anomalous ({defect})").first).to_be_visible()
        app.open("Compare")
        nothing_fetched()
    finally:
        page.context.close()
