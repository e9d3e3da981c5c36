"""Full-size maps in a real Chromium against a real `streamlit run`: on Inspect, a 1000x700 image's error map
(of a run that worked at 32 px) is drawn over the image at 1000x700 in a Plotly figure that keeps its aspect
ratio, and a dragged box zooms into it, a double-click resets it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.harness import ARTIFACTS, CHROMIUM, Server
from tests.synthetic_mvtec import make_sized_folder

pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")
from playwright.sync_api import Page, expect  # noqa: E402

from tests.e2e.driver import RUN_MS, App, no_exception  # noqa: E402

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.is_file(), reason=f"no Chromium at {CHROMIUM} (apt-get install chromium)"
    ),
]

DATASET = "wide"
FIRST_LOAD_MS = 120_000  # the first script run imports torch
RANGES_JS = "el => [el._fullLayout.xaxis.range.slice(), el._fullLayout.yaxis.range.slice()]"
IMAGE_BOX_JS = """el => {
    const box = el.querySelector('g.imagelayer image, .layer-above image, image').getBoundingClientRect();
    return [box.width, box.height];
}"""


@pytest.fixture(scope="module")
def run_id(server: Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """`wide` (1000x700 grayscale images, a 12 px defect with its mask) with one autoencoder run at 32 px."""
    from db.store import Store
    from engine.data.importer import import_dataset
    from engine.run import train_and_evaluate
    from engine.runconfig import RunConfig

    folder = make_sized_folder(tmp_path_factory.mktemp("wide") / "src", [(700, 1000)], n_train=4, n_test=2)
    with pytest.MonkeyPatch.context() as patch:
        for key in ("WORKBENCH_DB_URL", "MLFLOW_TRACKING_URI", "WORKBENCH_DATA_DIR"):
            patch.setenv(key, server.env[key])
        Store.dispose_all()
        import_dataset(folder, DATASET)
        run = train_and_evaluate(RunConfig(DATASET, "autoencoder", "smoke", image_size=32)).run_id
        Store.dispose_all()
    yield run
    Store.dispose_all()


@pytest.fixture(scope="module")
def app(ui: Page, server: Server, run_id: int) -> App:
    app = App(ui)
    app.act(
        lambda: ui.goto(f"{server.url}inspect?user=ann&dataset={DATASET}"),
        "the first page load",
        timeout_ms=FIRST_LOAD_MS,
    )
    expect(ui.get_by_role("heading", name="Inspect", exact=True)).to_be_visible()
    no_exception(ui)
    return app


def test_the_map_over_a_large_image_keeps_its_size_and_zooms(app: App, run_id: int, flow):
    page = app.page
    chart = page.locator(f".st-key-inspect_zoom_{run_id} .js-plotly-plot")
    expect(chart).to_have_count(1, timeout=RUN_MS)
    expect(page.get_by_text("error map over the image, 1000x700 px").first).to_be_visible()
    (x0, x1), (y0, y1) = chart.evaluate(RANGES_JS)
    assert (x0, x1, y0, y1) == (-0.5, 999.5, 699.5, -0.5)
    width, height = chart.evaluate(IMAGE_BOX_JS)
    assert width > 300 and abs(width / height - 1000 / 700) < 0.02  # drawn at its own aspect ratio
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    chart.scroll_into_view_if_needed()
    chart.screenshot(path=ARTIFACTS / "native-maps-zoom.png")
    box = chart.locator(".nsewdrag").first.bounding_box()
    left, top = box["x"] + box["width"] * 0.4, box["y"] + box["height"] * 0.4
    page.mouse.move(left, top)
    page.mouse.down()
    page.mouse.move(left + box["width"] * 0.1, top + box["height"] * 0.1, steps=8)
    page.mouse.up()
    page.wait_for_timeout(500)
    (z0, z1), _ = chart.evaluate(RANGES_JS)
    assert 0 < z1 - z0 < 400, f"a dragged box zooms in: x range {z0:.0f}..{z1:.0f}"
    page.mouse.dblclick(left, top)
    page.wait_for_timeout(500)
    (r0, r1), _ = chart.evaluate(RANGES_JS)
    assert (round(r0, 1), round(r1, 1)) == (-0.5, 999.5)
    no_exception(page)
