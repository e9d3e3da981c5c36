"""The Review page's presentation in a real Chromium against a real `streamlit run`: a deck of four runs (three
smoke runs and an ensemble), two flagged examples with comments, shown on a 1280x720 projector and on a
1920x1080 screen. The arrow keys turn every slide; no slide scrolls, the text is readable from the back of the
room, and each slide's screenshot is kept under test-artifacts/e2e/."""

from __future__ import annotations

import re
from collections.abc import Iterator

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

DATASET = "deck"
METHODS = ("autoencoder", "deep_svdd", "vae")  # deep_svdd adds attention maps to the examples
FLAGGED = ("test/square/000.png", "test/good/001.png")
SCREENS = ({"width": 1280, "height": 720}, {"width": 1920, "height": 1080})
FIRST_LOAD_MS = 120_000  # the first script run imports torch
TEXT_PX, TICK_PX = 18, 14

# Whether anything scrolls: the document (as the issue measured it) and Streamlit's main block, which is where
# Streamlit scrolls a page taller than the window.
SCROLLS_JS = """() => {
    const doc = document.scrollingElement, main = document.querySelector('[data-testid="stMain"]');
    return {doc: doc.scrollHeight, window: window.innerHeight,
            main: main ? main.scrollHeight : 0, mainView: main ? main.clientHeight : 0};
}"""
# The smallest text on the slide outside the figures, and in them: tick labels apart from the rest.
FONTS_JS = """() => {
    const px = e => parseFloat(getComputedStyle(e).fontSize);
    const main = document.querySelector('[data-testid="stMain"]');
    const shown = e => e.getClientRects().length > 0 && getComputedStyle(e).visibility !== 'hidden';
    const own = e => [...e.childNodes].some(n => n.nodeType === 3 && n.textContent.trim());
    const page = [...main.querySelectorAll('p, td, th, li, div, span, label')]
        .filter(e => !e.closest('svg, [data-testid="stIconMaterial"], [role="tooltip"]') && own(e) && shown(e));
    const svg = [...main.querySelectorAll('svg text')].filter(e => e.textContent.trim() && shown(e));
    const ticks = svg.filter(e => e.closest('.xtick, .ytick, .colorbar .cbaxis'));
    const rest = svg.filter(e => !ticks.includes(e));
    const least = list => list.length ? Math.min(...list.map(px)) : null;
    const which = (list, limit) => list.filter(e => px(e) < limit).slice(0, 3).map(e => e.textContent.trim());
    return {page: least(page), ticks: least(ticks), figures: least(rest),
            smallPage: which(page, 18), smallFigures: which(rest, 18)};
}"""


@pytest.fixture(scope="module")
def deck(server: Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[int]]:
    """`deck` in the server's store (16 train; 8 good, 4 'square', 3 'spot', 1 'dent' test images, 32 px) with
    a smoke run of each of METHODS, an ensemble of two of them, two flagged images and some comments."""
    from db import comments
    from db.store import Store
    from engine import ensemble_runs
    from engine.data.importer import import_dataset
    from engine.run import train_and_evaluate
    from engine.runconfig import RunConfig

    folder = make_mvtec_folder(
        tmp_path_factory.mktemp("deck") / "src",
        n_train=16,
        n_good=8,
        defects={"square": 4, "spot": 3, "dent": 1},
        size=32,
    )
    with pytest.MonkeyPatch.context() as patch:
        for key in ("WORKBENCH_DB_URL", "MLFLOW_TRACKING_URI", "WORKBENCH_DATA_DIR"):
            patch.setenv(key, server.env[key])
        Store.dispose_all()
        import_dataset(folder, DATASET)
        ids = [train_and_evaluate(RunConfig(DATASET, m, "smoke", image_size=32)).run_id for m in METHODS]
        ids.append(ensemble_runs.record(ids[:2], author="ann")[0])
        for name in FLAGGED:
            comments.flag_image(Store.at(), DATASET, name, "ann", run_id=ids[0], note="worth a look")
        first = comments.add_comment(
            Store.at(),
            DATASET,
            "bob",
            "Glare on the left edge, or a real dent? The mask covers only half of the bright area, so the "
            "pixel figures may undersell the autoencoder here.",
            image_name=FLAGGED[0],
        )
        comments.add_comment(
            Store.at(), DATASET, "ann", "A real dent: the line operator confirmed it.", parent_id=first
        )
        comments.add_comment(Store.at(), DATASET, "ann", "padim is best", run_id=None)
        Store.dispose_all()
    yield ids
    Store.dispose_all()


@pytest.fixture(scope="module")
def app(ui: Page, server: Server, deck: list[int]) -> App:
    """The Review page opened in presentation mode by a link that names the user, the dataset and the runs."""
    ui.set_viewport_size(SCREENS[0])
    app = App(ui)
    runs = ",".join(map(str, deck))
    app.act(
        lambda: ui.goto(f"{server.url}review?user=ann&dataset={DATASET}&runs={runs}&present=1"),
        "the first page load",
        timeout_ms=FIRST_LOAD_MS,
    )
    expect(ui.locator(".st-key-section_next")).to_be_visible()
    no_exception(ui)
    return app


def _picker(page: Page):
    """The slide picker (its value: the slide shown)."""
    return page.get_by_test_id("stMain").get_by_test_id("stSelectbox").locator("input")


def _check_slide(app: App, screen: dict[str, int], k: int, name: str) -> None:
    page = app.page
    for chart in page.locator("[data-testid='stMain'] .js-plotly-plot").all():
        expect(chart.locator(".main-svg").first).to_be_visible()
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:40]
    page.screenshot(path=ARTIFACTS / f"deck-{screen['width']}x{screen['height']}-{k:02d}-{slug}.png")
    size = page.evaluate(SCROLLS_JS)
    assert size["doc"] <= size["window"] and size["main"] <= size["mainView"], (
        f"slide {name!r} scrolls at {screen['width']}x{screen['height']}: {size}"
    )
    fonts = page.evaluate(FONTS_JS)
    assert fonts["page"] is None or fonts["page"] >= TEXT_PX - 0.5, f"{name}: small text {fonts}"
    assert fonts["figures"] is None or fonts["figures"] >= TEXT_PX - 0.5, f"{name}: small figure text {fonts}"
    assert fonts["ticks"] is None or fonts["ticks"] >= TICK_PX - 0.5, f"{name}: small ticks {fonts}"
    no_exception(page)


def test_the_deck_is_full_screen_without_the_sidebar_or_the_run_picker(app: App, deck: list[int]):
    page = app.page
    expect(page.get_by_test_id("stSidebar")).to_be_hidden()
    expect(page.get_by_test_id("stHeader")).to_be_hidden()
    expect(page.get_by_role("heading", name="Review", exact=True)).to_have_count(0)
    expect(page.get_by_test_id("stMultiSelect")).to_have_count(0)
    table = page.get_by_test_id("stTable")
    for run_id in deck:  # the runs the link chose, all four on the first slide
        expect(table).to_contain_text(f"#{run_id}")


@pytest.mark.parametrize("screen", SCREENS, ids=lambda s: f"{s['width']}x{s['height']}")
def test_every_slide_fits_the_screen_and_the_arrow_keys_turn_them(app: App, screen: dict[str, int]):
    page = app.page
    page.set_viewport_size(screen)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    names = _names(app)
    forward = screen is SCREENS[0]  # the first screen goes forward, the second back: both keys are used
    order = names if forward else names[::-1]
    expect(_picker(page)).to_have_value(order[0])
    for k, name in enumerate(order):
        _check_slide(app, screen, names.index(name) + 1, name)
        if k + 1 < len(order):
            page.evaluate(
                "() => document.activeElement && document.activeElement.blur()"
            )  # arrows to the page
            key = "ArrowRight" if forward else "ArrowLeft"
            app.act(lambda key=key: page.keyboard.press(key), key)
            expect(_picker(page), f"{key} did not turn {name!r} to {order[k + 1]!r}").to_have_value(
                order[k + 1]
            )


def _names(app: App) -> list[str]:
    """The slides, read from the slide picker's list."""
    page = app.page
    page.get_by_role("combobox", name="Section").click()
    names = [o.strip() for o in page.get_by_role("option").all_inner_texts()]
    page.keyboard.press("Escape")
    expect(page.get_by_role("listbox")).to_have_count(0)
    assert names[0] == "Leaderboard" and names[-1] == "Comments" and len(names) == 8, names
    return names
