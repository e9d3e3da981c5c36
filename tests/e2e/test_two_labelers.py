"""Two people label the same images at once, each in a browser context (a Streamlit session) of their own,
against one real `streamlit run` server: every save either lands or shows the conflict, also after widget
interactions on the image and under "Only unlabeled". Small synthetic images keep it quick; the workflow test
covers real ones."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.e2e.conftest import new_page
from tests.e2e.harness import CHROMIUM, Server
from tests.synthetic_mvtec import make_mvtec_folder, normal_image, png_bytes

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

DATASET = "pair"
FIRST_LOAD_MS = 120_000  # the first script run imports torch
UNLABELED = [f"test/unlabeled/new{i}.png" for i in range(3)]


@pytest.fixture(scope="module")
def dataset(server: Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """`pair` in the server's store: 2 good and 2 'square' test images from folders, 3 uploaded unlabeled."""
    from db import datasets as db_datasets
    from db.store import Store
    from engine.data.additions import add_test_images
    from engine.data.importer import import_dataset

    folder = make_mvtec_folder(
        tmp_path_factory.mktemp("pair") / "src", n_train=4, n_good=2, defects={"square": 2}, size=64
    )
    import_dataset(
        folder, DATASET, data_dir=Path(server.env["WORKBENCH_DATA_DIR"]), store=Store.at(server.db_url)
    )
    rng = np.random.default_rng(5)
    uploads = [(Path(name).name, png_bytes(normal_image(rng, 64, 3))) for name in UNLABELED]
    assert add_test_images(DATASET, uploads, Store.at(server.db_url)).total == len(UNLABELED)
    yield db_datasets.get_dataset(Store.at(server.db_url), DATASET).id
    Store.dispose_all()


def _open_label_page(browser, server: Server, person: str) -> App:
    app = App(new_page(browser))
    page = app.page
    app.act(lambda: page.goto(server.url), f"{person}'s first page load", timeout_ms=FIRST_LOAD_MS)
    name = page.get_by_test_id("stSidebar").get_by_role("textbox", name="Your name")
    name.fill(person)
    app.act(lambda: name.press("Enter"), f"{person} typing a name")
    app.choose(page.get_by_test_id("stSidebar").get_by_role("combobox", name="Dataset"), DATASET)
    app.open("Label")
    return app


@pytest.fixture(scope="module")
def people(chromium, server: Server, dataset: int) -> Iterator[tuple[App, App]]:
    """ann and bob, each on the Label page of `pair` in a browser context of their own."""
    ann, bob = (_open_label_page(chromium, server, person) for person in ("ann", "bob"))
    yield ann, bob
    for app in (ann, bob):
        app.page.context.close()


def _position(page: Page):
    return page.get_by_test_id("stProgress").filter(has_text=": ")


def _button(page: Page, name: str):
    return page.get_by_role("button", name=re.compile(rf"^{name}"))


def _draw_a_stroke(app: App) -> None:
    canvas = app.page.locator("[data-testid=stBidiComponentIsolated] canvas.upper-canvas")
    expect(canvas).to_be_visible()
    box = canvas.bounding_box()
    assert box and box["width"] > 100, f"the drawing canvas is not laid out: {box}"

    def stroke() -> None:
        x, y = box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.3
        app.page.mouse.move(x, y)
        app.page.mouse.down()
        for step in range(1, 12):
            app.page.mouse.move(x + step * box["width"] * 0.03, y + step * box["height"] * 0.02)
        app.page.mouse.up()

    app.act(stroke, "drawing on the canvas")


def _state(server: Server, dataset: int, relpath: str):
    from db import labels

    return next(s for s in labels.images_to_label(Store.at(server.db_url), dataset) if s.relpath == relpath)


def test_a_save_after_picking_a_type_and_drawing_shows_the_conflict(people, server: Server, dataset: int):
    ann, bob = people
    first = "test/good/000.png"
    for app in people:
        expect(_position(app.page)).to_contain_text(f"Image 1 of 7: {first}")
    ann.act(_button(ann.page, "Anomalous").click, "ann's Anomalous")  # the known type 'square' is picked
    expect(ann.page.get_by_test_id("stAlertContentSuccess")).to_contain_text(
        f"Saved {first}: anomalous (square) (version 1 by ann)"
    )

    bob.choose(bob.page.get_by_role("combobox", name="Defect type"), "(new type...)")  # each a rerun
    defect = bob.page.get_by_role("textbox", name="New defect type")
    defect.fill("dent")
    bob.act(lambda: defect.press("Enter"), "bob typing the defect type")
    _draw_a_stroke(bob)
    bob.act(_button(bob.page, "Anomalous").click, "bob's Anomalous")

    warning = bob.page.get_by_test_id("stAlertContentWarning").filter(has_text="Conflict")
    expect(warning).to_contain_text("ann changed this image")
    expect(warning).to_contain_text("anomalous (square)")
    no_exception(bob.page)
    state = _state(server, dataset, first)
    assert (state.labeled_by, state.defect_type, state.version) == ("ann", "square", 1), state
    bob.act(_button(bob.page, "Keep theirs").click, "bob's Keep theirs")
    expect(bob.page.get_by_test_id("stAlertContentInfo")).to_contain_text("Kept the other label")


def test_a_save_under_only_unlabeled_after_the_other_saved_shows_the_conflict(
    people, server: Server, dataset: int
):
    ann, bob = people
    for app in people:
        app.page.get_by_role("button", name="Filters").click()  # the filters live in a popover
        app.act(app.page.get_by_text("Only unlabeled", exact=True).click, "the Only unlabeled toggle")
        app.page.keyboard.press("Escape")
        expect(_position(app.page)).to_contain_text(f"Image 1 of 3: {UNLABELED[0]}")
    ann.act(_button(ann.page, "Normal").click, "ann's Normal")
    expect(ann.page.get_by_test_id("stAlertContentSuccess")).to_contain_text(f"Saved {UNLABELED[0]}: normal")
    expect(_position(ann.page)).to_contain_text(f"Image 1 of 2: {UNLABELED[1]}")

    bob.act(_button(bob.page, "Normal").click, "bob's Normal")  # bob still sees the image ann just labeled
    warning = bob.page.get_by_test_id("stAlertContentWarning").filter(has_text="Conflict")
    expect(warning).to_contain_text("ann changed this image")
    expect(_position(bob.page)).to_contain_text(UNLABELED[0])
    assert _state(server, dataset, UNLABELED[0]).labeled_by == "ann"

    bob.act(_button(bob.page, "Use mine").click, "bob's Use mine")
    expect(bob.page.get_by_test_id("stAlertContentSuccess")).to_contain_text(
        f"Saved {UNLABELED[0]}: normal (version 2 by bob)"
    )
    expect(_position(bob.page)).to_contain_text(f"Image 1 of 2: {UNLABELED[1]}")
    no_exception(bob.page)
    from db import labels

    history = labels.label_history(Store.at(server.db_url), _state(server, dataset, UNLABELED[0]).image_id)
    assert [(e.author, e.version) for e in history] == [("bob", 2), ("ann", 1)]
