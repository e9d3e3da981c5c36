"""The Label page in a real Chromium at 1280x720 (a factory laptop): the canvas and the label buttons above the
fold, the canvas's undo/redo toolbar clear of the navigation, a stroke that leaves the image visible under it,
and a zoom change that keeps the stroke (scaled, in a scroll box on screen), saved by the A key pressed while
the zoom slider has the focus. Screenshots go to test-artifacts/e2e/."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

from tests.e2e.harness import ARTIFACTS, CHROMIUM, Server
from tests.synthetic_mvtec import make_mvtec_folder

pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")
from playwright.sync_api import Page, expect  # noqa: E402

from db.store import Store
from tests.e2e.driver import App, no_exception  # noqa: E402

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.is_file(), reason=f"no Chromium at {CHROMIUM} (apt-get install chromium)"
    ),
]

DATASET = "canvas"
VIEWPORT = {"width": 1280, "height": 720}
FIRST_LOAD_MS = 120_000  # the first script run imports torch


@pytest.fixture(scope="module")
def app(server: Server, chromium, tmp_path_factory: pytest.TempPathFactory) -> App:
    from engine.data.importer import import_dataset

    folder = make_mvtec_folder(
        tmp_path_factory.mktemp("canvas") / "src", n_train=4, n_good=3, defects={"square": 3}, size=64
    )
    import_dataset(
        folder, DATASET, data_dir=Path(server.env["WORKBENCH_DATA_DIR"]), store=Store.at(server.db_url)
    )
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
    yield app
    context.close()


def _overlap(a: dict, b: dict) -> bool:
    return not (
        a["x"] + a["width"] <= b["x"]
        or b["x"] + b["width"] <= a["x"]
        or a["y"] + a["height"] <= b["y"]
        or b["y"] + b["height"] <= a["y"]
    )


def _inside_the_window(box: dict) -> bool:
    return (
        box["y"] >= 0
        and box["y"] + box["height"] <= VIEWPORT["height"]
        and box["x"] + box["width"] <= VIEWPORT["width"]
    )


def test_canvas_and_label_buttons_above_the_fold(app: App):
    page = app.page
    canvas = page.locator("canvas.upper-canvas").first
    expect(canvas).to_be_visible()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=ARTIFACTS / "label-fold-1280x720.png")
    assert _inside_the_window(canvas.bounding_box()), canvas.bounding_box()  # no scrolling to draw
    for name in ("Normal", "Anomalous"):
        button = page.get_by_role("button", name=name).first
        assert _inside_the_window(button.bounding_box()), (name, button.bounding_box())

    canvas.hover()
    toolbar = page.locator(".dc-toolbar-card").first
    expect(toolbar).to_be_visible()
    page.wait_for_timeout(500)  # the toolbar slides up on hover
    position = page.get_by_test_id("stProgress").first
    assert not _overlap(toolbar.bounding_box(), position.bounding_box())


def _red_at(page: Page, x: float, y: float) -> tuple[int, int, int]:
    from PIL import Image

    shot = Image.open(io.BytesIO(page.screenshot())).convert("RGB")
    return shot.getpixel((round(x), round(y)))


def test_a_stroke_leaves_the_image_visible_under_it(app: App):
    page = app.page
    box = page.locator("canvas.upper-canvas").first.bounding_box()
    y = box["y"] + box["height"] * 0.25  # the top quarter of a good image: no defect, gray gradient

    def stroke() -> None:
        page.mouse.move(box["x"] + box["width"] * 0.2, y)
        page.mouse.down()
        page.mouse.move(box["x"] + box["width"] * 0.6, y, steps=12)
        page.mouse.up()

    app.act(stroke, "drawing a stroke")
    red, green, blue = _red_at(page, box["x"] + box["width"] * 0.4, y)
    assert red > green + 40 and red > blue + 40, (red, green, blue)  # tinted red...
    assert green > 30 and blue > 30, (red, green, blue)  # ...with the gray image showing through


def test_zoom_keeps_the_stroke_and_the_a_key_saves_it(app: App, server: Server):
    from PIL import Image

    from db import datasets as db_datasets
    from db import labels
    from db.store import Store

    page = app.page
    before = page.locator("canvas.upper-canvas").first.bounding_box()
    zoom = page.get_by_test_id("stSlider").filter(has_text="Zoom").get_by_role("slider")
    zoom.focus()
    app.act(lambda: page.keyboard.press("ArrowRight"), "zooming to 1.5x")
    app.act(lambda: page.keyboard.press("ArrowRight"), "zooming to 2x")
    canvas = page.locator("canvas.upper-canvas").first
    expect(canvas).to_have_attribute("width", str(round(before["width"] * 2)))
    scroll = page.locator(".dc-scroll").first.bounding_box()
    assert _inside_the_window(scroll), scroll  # the zoomed canvas scrolls inside a box on screen
    # the stroke ran along the top quarter from 20% to 60% of the width; at 2x, 30% of it lies 60% of the old
    # width from the left, inside the box. The canvas redraws the kept stroke at the new scale a moment after
    # it resizes (seconds on a busy machine), so look for it for up to 15 s.
    for _ in range(30):
        page.wait_for_timeout(500)
        red, green, blue = _red_at(
            page, before["x"] + before["width"] * 0.3 * 2, before["y"] + before["height"] * 0.25 * 2
        )
        if red > green + 40 and red > blue + 40:
            break
    page.screenshot(path=ARTIFACTS / "label-zoom-keeps-strokes.png")
    assert red > green + 40 and red > blue + 40, (red, green, blue)

    assert zoom.evaluate("e => e === document.activeElement")  # an input has the focus: Streamlit skips keys
    app.act(lambda: page.keyboard.press("a"), "the A key")
    record = db_datasets.get_dataset(Store.at(server.db_url), DATASET)
    first = labels.images_to_label(Store.at(server.db_url), record.id)[0]
    state = labels.label_state(Store.at(server.db_url), first.image_id)
    assert (state.label, state.labeled_by) == (1, "ann"), state
    root = Path(server.env["WORKBENCH_DATA_DIR"]) / Path(record.root).name
    mask = np.asarray(Image.open(root / state.mask_relpath).convert("L")) > 127
    rows, cols = np.nonzero(mask)
    assert len(rows) and abs(rows.mean() / mask.shape[0] - 0.25) < 0.08, (
        "the stroke is not where it was drawn"
    )
    assert cols.min() / mask.shape[1] > 0.15 and cols.max() / mask.shape[1] < 0.65
    no_exception(page)
