"""The Label canvas in a real Chromium at 1440x900: the whole canvas above the fold, its undo/redo toolbar clear
of the brush slider, and a stroke that leaves the image visible under it."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from tests.e2e.harness import ARTIFACTS, CHROMIUM, Server
from tests.synthetic_mvtec import make_mvtec_folder

pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")
from playwright.sync_api import Page, expect  # noqa: E402

from tests.e2e.driver import App, no_exception  # noqa: E402

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.is_file(), reason=f"no Chromium at {CHROMIUM} (apt-get install chromium)"
    ),
]

DATASET = "canvas"
VIEWPORT = {"width": 1440, "height": 900}
FIRST_LOAD_MS = 120_000  # the first script run imports torch


@pytest.fixture(scope="module")
def page(server: Server, chromium, tmp_path_factory: pytest.TempPathFactory):
    from engine.data import import_dataset

    folder = make_mvtec_folder(
        tmp_path_factory.mktemp("canvas") / "src", n_train=4, n_good=3, defects={"square": 3}, size=64
    )
    import_dataset(folder, DATASET, data_dir=Path(server.env["WORKBENCH_DATA_DIR"]), db_url=server.db_url)
    context = chromium.new_context(viewport=VIEWPORT)
    page = context.new_page()
    page.set_default_timeout(60_000)
    app = App(page)
    app.act(
        lambda: page.goto(f"{server.url}label?user=ann&dataset={DATASET}"),
        "the first page load",
        timeout_ms=FIRST_LOAD_MS,
    )
    expect(page.get_by_role("heading", name="Label", exact=True)).to_be_visible()
    no_exception(page)
    yield page
    context.close()


def _overlap(a: dict, b: dict) -> bool:
    return not (
        a["x"] + a["width"] <= b["x"]
        or b["x"] + b["width"] <= a["x"]
        or a["y"] + a["height"] <= b["y"]
        or b["y"] + b["height"] <= a["y"]
    )


def test_canvas_above_the_fold_and_its_toolbar_clear_of_the_slider(page: Page):
    canvas = page.locator("canvas.upper-canvas").first
    expect(canvas).to_be_visible()
    box = canvas.bounding_box()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=ARTIFACTS / "label-canvas-1440x900.png")
    assert box["y"] >= 0 and box["y"] + box["height"] <= VIEWPORT["height"], box  # no scrolling to draw

    canvas.hover()
    toolbar = page.locator(".dc-toolbar-card").first
    expect(toolbar).to_be_visible()
    page.wait_for_timeout(500)  # the toolbar slides up on hover
    slider = page.get_by_test_id("stSlider").filter(has_text="Brush size")
    assert not _overlap(toolbar.bounding_box(), slider.bounding_box())
    page.screenshot(path=ARTIFACTS / "label-canvas-toolbar.png")


def test_a_stroke_leaves_the_image_visible_under_it(page: Page):
    from PIL import Image

    box = page.locator("canvas.upper-canvas").first.bounding_box()
    y = box["y"] + box["height"] * 0.25  # the top quarter of a good image: no defect, gray gradient
    page.mouse.move(box["x"] + box["width"] * 0.2, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.6, y, steps=12)
    page.mouse.up()
    page.wait_for_timeout(1000)
    shot = Image.open(io.BytesIO(page.screenshot())).convert("RGB")
    red, green, blue = shot.getpixel((round(box["x"] + box["width"] * 0.4), round(y)))
    assert red > green + 40 and red > blue + 40, (red, green, blue)  # tinted red...
    assert green > 30 and blue > 30, (red, green, blue)  # ...with the gray image showing through
