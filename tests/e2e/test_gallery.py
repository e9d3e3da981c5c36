"""Browsing many images in a real Chromium against a real `streamlit run`: the Inspect gallery's pages,
filters and clickable thumbnails (and a reload that keeps them), and the Embeddings maps' linked selection.
Two smoke runs on 30 small synthetic test images keep it quick."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from tests.e2e.harness import ARTIFACTS, CHROMIUM, Server
from tests.synthetic_mvtec import make_mvtec_folder

pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")
from playwright.sync_api import Locator, Page, expect  # noqa: E402

from tests.e2e.driver import RUN_MS, App, no_exception  # noqa: E402

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.is_file(), reason=f"no Chromium at {CHROMIUM} (apt-get install chromium)"
    ),
]

DATASET = "gal"
METHODS = ("autoencoder", "deep_svdd")
N_TEST = 30  # 20 good, 10 anomalous: two gallery pages of 24
FIRST_LOAD_MS = 120_000  # the first script run imports torch

# The page position of point `i` of trace `t` of a Plotly chart (`el` is its .js-plotly-plot element).
POINT_JS = """(el, [t, i]) => {
    const fl = el._fullLayout, trace = el._fullData[t], box = el.getBoundingClientRect();
    return {
        x: box.left + fl.xaxis._offset + fl.xaxis.l2p(trace.x[i]),
        y: box.top + fl.yaxis._offset + fl.yaxis.l2p(trace.y[i]),
        name: trace.customdata ? trace.customdata[i][0] : null,
    };
}"""


@pytest.fixture(scope="module")
def runs(server: Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, int]]:
    """`gal` in the server's store (16 train; 20 good, 6 'square', 4 'spot' test images, 32 px) with one
    finished smoke run of each of METHODS."""
    from db.store import Store
    from engine.data.importer import import_dataset
    from engine.run import train_and_evaluate
    from engine.runconfig import RunConfig

    folder = make_mvtec_folder(
        tmp_path_factory.mktemp("gal") / "src",
        n_train=16,
        n_good=20,
        defects={"square": 6, "spot": 4},
        size=32,
    )
    with pytest.MonkeyPatch.context() as patch:
        for key in ("WORKBENCH_DB_URL", "MLFLOW_TRACKING_URI", "WORKBENCH_DATA_DIR"):
            patch.setenv(key, server.env[key])
        Store.dispose_all()
        import_dataset(folder, DATASET)
        ids = {m: train_and_evaluate(RunConfig(DATASET, m, "smoke", image_size=32)).run_id for m in METHODS}
        Store.dispose_all()
    yield ids
    Store.dispose_all()


@pytest.fixture(scope="module")
def app(ui: Page, server: Server, runs: dict[str, int]) -> App:
    """The Inspect page opened by a link that names the user and the dataset."""
    app = App(ui)
    app.act(
        lambda: ui.goto(f"{server.url}inspect?user=ann&dataset={DATASET}"),
        "the first page load",
        timeout_ms=FIRST_LOAD_MS,
    )
    expect(ui.get_by_role("heading", name="Inspect", exact=True)).to_be_visible()
    no_exception(ui)
    return app


def _point(chart: Locator, trace: int, index: int) -> dict:
    return chart.evaluate(POINT_JS, [trace, index])


def _grid(page: Page) -> Locator:
    grid = page.locator("[class*='st-key-gallery_grid_'] .js-plotly-plot")
    expect(grid).to_have_count(1, timeout=RUN_MS)
    return grid


def test_gallery_pages_filters_and_clicks(app: App, flow):
    page = app.page
    gallery = page.get_by_test_id("stExpander").filter(has_text="Gallery")
    expect(gallery.get_by_text("page 1 of 2 · images 1-24 of 30")).to_be_visible()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=ARTIFACTS / "gallery-inspect.png", full_page=True)

    third = _point(_grid(page), 0, 2)  # a click on the third thumbnail opens it
    app.act(lambda: page.mouse.click(third["x"], third["y"]), "a click on a thumbnail")
    expect(page.get_by_role("heading", level=3).filter(has_text=third["name"])).to_be_visible()
    no_exception(page)

    app.act(gallery.get_by_test_id("stPaginationNext").click, "the next-page arrow")
    expect(gallery.get_by_text("page 2 of 2 · images 25-30 of 30")).to_be_visible()
    assert re.search(r"[?&]g_page=2(&|$)", page.url), page.url
    last = _point(_grid(page), 0, 5)
    app.act(lambda: page.mouse.click(last["x"], last["y"]), "a click on a thumbnail of page 2")
    expect(page.get_by_role("heading", level=3).filter(has_text=last["name"])).to_be_visible()

    radio = gallery.get_by_test_id("stRadio").filter(has_text="Label")
    app.act(radio.get_by_text("anomalous", exact=True).click, "the 'anomalous' label filter")
    expect(gallery.get_by_text("page 1 of 1 · images 1-10 of 10")).to_be_visible()  # back to page 1
    assert "g_label=anomalous" in page.url and "g_page" not in page.url, page.url
    expect(page.get_by_role("heading", level=3).filter(has_text="anomalous (")).to_be_visible()

    app.act(page.reload, "reloading the page", timeout_ms=FIRST_LOAD_MS)
    expect(gallery.get_by_text("page 1 of 1 · images 1-10 of 10")).to_be_visible()
    expect(radio.get_by_role("radio", name="anomalous")).to_be_checked()
    no_exception(page)


def test_embeddings_click_rings_the_image_in_every_map(app: App, flow):
    page = app.page
    app.open("Embeddings")
    maps = page.locator("[class*='st-key-tsne_'] .js-plotly-plot")
    expect(maps).to_have_count(len(METHODS), timeout=RUN_MS)
    # trace 0 is the training sample, 1 the normal test images
    point = _point(maps.nth(1), 1, 0)
    app.act(lambda: page.mouse.click(point["x"], point["y"]), "a click on a point of the second map")
    name = point["name"]
    expect(page.get_by_test_id("stImage").filter(has_text=name)).to_be_visible()
    maps = page.locator("[class*='st-key-tsne_'] .js-plotly-plot")
    expect(maps).to_have_count(len(METHODS), timeout=RUN_MS)
    for i in range(len(METHODS)):
        ringed = maps.nth(i).evaluate(
            "el => el.data.filter(t => t.name === 'selected image').map(t => [t.x[0], t.y[0]])"
        )
        assert len(ringed) == 1, f"map {i} has no ring"
    assert re.search(r"[?&]tsne_image=" + re.escape(name.replace("/", "%2F")), page.url), page.url
    no_exception(page)
    page.screenshot(path=ARTIFACTS / "gallery-embeddings.png", full_page=True)


def test_the_gallery_filter_outlives_a_page_switch(app: App, flow):
    page = app.page
    app.open("Inspect")
    gallery = page.get_by_test_id("stExpander").filter(has_text="Gallery")
    expect(gallery.get_by_text("page 1 of 1 · images 1-10 of 10")).to_be_visible()
    radio = gallery.get_by_test_id("stRadio").filter(has_text="Label")
    expect(radio.get_by_role("radio", name="anomalous")).to_be_checked()
    assert "g_label=anomalous" in page.url, page.url
    no_exception(page)
