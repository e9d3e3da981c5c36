"""End to end in a real browser: `streamlit run streamlit_app.py` driven by headless Chromium through Playwright.

One Streamlit session goes through the whole workflow on real images (../shared/datasets/piped/pa_bdp01_tl):
import a zip on Datasets, label an image with a drawn mask on Label, train two smoke jobs on Train, see both
ROC curves on Compare, open Embeddings and Inspect, comment and download the report on Review, then present it
at 1280x720. The steps run in order and share the page; a failed step skips the rest. Screenshots go to
test-artifacts/e2e/, and the Compare and presentation ones, downscaled, to docs/ for the README (with
WORKBENCH_UPDATE_DOCS=1).

Waiting: every widget action waits until the script run that saw it has finished (tests/e2e/driver.py)."""

from __future__ import annotations

import os
import re
import sqlite3
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.e2e.harness import ARTIFACTS, CHROMIUM, PROJECT_ROOT, Flow, Server

pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")
from playwright.sync_api import Page, expect  # noqa: E402

from db.store import Store
from tests.e2e.driver import RUN_MS, App, no_exception  # noqa: E402
from tests.e2e.files import distinct_images, save_for_readme, snap, zip_category  # noqa: E402

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.is_file(), reason=f"no Chromium at {CHROMIUM} (apt-get install chromium)"
    ),
]

CATEGORY = "piped/pa_bdp01_tl"
DATASET = "piped-bdp01"
METHODS = ("autoencoder", "padim")
NEW_DEFECT = "scratch"
LABELER = "ann"
FIRST_LOAD_MS = 120_000  # the first script run imports torch and builds the MNIST overview
TRAIN_SECONDS = 300
# the README's picture; written only with WORKBENCH_UPDATE_DOCS=1, so test runs leave the checkout as it was
COMPARE_PNG = PROJECT_ROOT / "docs" / "compare.png"
PRESENTATION_PNG = PROJECT_ROOT / "docs" / "presentation.png"
MEETING_SCREEN = {"width": 1280, "height": 720}
SHARED_DATASETS = (PROJECT_ROOT / ".." / "shared" / "datasets").resolve()  # as tests/conftest.py finds it


# --- helpers -----------------------------------------------------------------------------------------


def jobs_text(server: Server) -> str:
    from engine import jobs

    rows = jobs.list_jobs(store=Store.at(server.db_url))
    return "\n".join(f"#{j.id} {j.method} {j.status} {j.phase or ''} {j.error or ''}" for j in rows)


# --- fixtures ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def app(ui: Page, server: Server) -> App:
    """The Datasets page loaded once; the steps go on from page to page through the sidebar."""
    app = App(ui)
    app.act(lambda: ui.goto(server.url), "the first page load", timeout_ms=FIRST_LOAD_MS)
    expect(ui.get_by_role("heading", name="Datasets", exact=True)).to_be_visible()
    no_exception(ui)
    return app


@pytest.fixture(scope="module", autouse=True)
def _needs_real_data() -> None:
    """Every step builds on the imported real images: skip before a server and a browser are started."""
    if not (SHARED_DATASETS / CATEGORY).is_dir():
        pytest.skip(
            f"real images not found at {SHARED_DATASETS / CATEGORY} "
            "(../shared/datasets is only present beside the dev checkout)"
        )


@pytest.fixture(scope="module", autouse=True)
def _close_store_connections():
    yield
    from db.store import Store

    Store.dispose_all()


# --- the steps ---------------------------------------------------------------------------------------


def test_01_datasets_imports_a_zip(app: App, server: Server, flow: Flow, shared_datasets: Path, tmp_path):
    from db import datasets as db_datasets
    from db.store import Store

    page = app.page
    source = shared_datasets / CATEGORY
    upload = zip_category(source, tmp_path / f"{source.name}.zip")

    form = page.get_by_test_id("stForm")
    form.get_by_role("textbox", name="Name", exact=True).fill(DATASET)
    form.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(upload)
    expect(form.get_by_text(upload.name)).to_be_visible()
    app.act(form.get_by_role("button", name="Import").click, "Import", timeout_ms=180_000)

    expected = distinct_images(source)
    success = page.get_by_test_id("stAlertContentSuccess")
    expect(success).to_contain_text(f"Imported {expected} images into {DATASET} (mvtec, 3 channel(s))")
    no_exception(page)
    record = db_datasets.get_dataset(Store.at(server.db_url), DATASET)
    assert record is not None and record.kind == "mvtec"
    images = db_datasets.list_images(Store.at(server.db_url), record.id)
    assert len(images) == expected
    assert {i.split for i in images} == {"train", "test"}
    # the new dataset is in the overview table and picked in the sidebar for the next pages
    expect(page.get_by_test_id("stSidebar").get_by_role("combobox", name="Dataset")).to_have_value(DATASET)
    expect(page.get_by_test_id("stDataFrame").first).to_contain_text(DATASET)
    expect(page.get_by_role("combobox", name="Pictures of")).to_have_value(DATASET)
    expect(page.get_by_test_id("stImage").filter(has_text="train/good")).not_to_have_count(0)
    snap(page, "01-datasets")
    flow.facts["dataset_id"] = record.id


def test_02_label_draws_and_saves_a_mask(app: App, server: Server, flow: Flow):
    from db import labels

    page = app.page
    app.open("Label")
    expect(page.get_by_test_id("stSidebar").get_by_role("combobox", name="Dataset")).to_have_value(DATASET)
    expect(page.get_by_text("Type your name")).to_be_visible()  # asked first, never labeled "anonymous"
    name = page.get_by_test_id("stSidebar").get_by_role("textbox", name="Your name")
    name.fill(LABELER)
    app.act(lambda: name.press("Enter"), "typing a name")
    position = page.get_by_test_id("stProgress").filter(has_text=re.compile(r"Image \d+ of \d+"))
    expect(position).to_contain_text("Image 1 of")
    relpath = re.search(r"Image 1 of \d+: (\S+)", position.inner_text()).group(1)
    before = {s.relpath: s for s in labels.images_to_label(Store.at(server.db_url), flow.facts["dataset_id"])}
    assert relpath in before, f"{relpath} is not a test image of {DATASET}"
    assert before[relpath].label == 0, "the first test image in file order should be a normal one"

    # a new defect type, then a stroke across the middle of the picture
    app.choose(page.get_by_role("combobox", name="Defect type"), "(new type...)")
    defect = page.get_by_role("textbox", name="New defect type")
    defect.fill(NEW_DEFECT)
    app.act(lambda: defect.press("Enter"), "typing the defect type")
    canvas = page.locator("[data-testid=stBidiComponentIsolated] canvas.upper-canvas")
    expect(canvas).to_be_visible()
    box = canvas.bounding_box()
    assert box and box["width"] > 100, f"the drawing canvas is not laid out: {box}"

    def stroke() -> None:
        x, y = box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.3
        page.mouse.move(x, y)
        page.mouse.down()
        for step in range(1, 16):
            page.mouse.move(x + step * box["width"] * 0.025, y + step * box["height"] * 0.02)
        page.mouse.up()

    app.act(stroke, "drawing on the canvas")
    anomalous = page.get_by_role("button", name=re.compile(r"^Anomalous"))
    app.act(anomalous.click, "Anomalous")

    expect(page.get_by_test_id("stAlertContentSuccess")).to_contain_text(
        f"Saved {relpath}: anomalous ({NEW_DEFECT})"
    )
    no_exception(page)
    state = labels.label_state(Store.at(server.db_url), before[relpath].image_id)
    assert (state.label, state.defect_type, state.labeled_by) == (1, NEW_DEFECT, LABELER)
    assert state.version == before[relpath].version + 1
    assert state.mask_relpath, "the drawn stroke was not saved as a mask"
    with sqlite3.connect(server.db_url.removeprefix("sqlite:///")) as conn:  # the folder as stored: relative
        (stored,) = conn.execute("SELECT root FROM datasets WHERE name = ?", (DATASET,)).fetchone()
    root = server.root / "data" / stored  # to the server's WORKBENCH_DATA_DIR, not this process's
    mask = np.asarray(Image.open(root / state.mask_relpath).convert("L")) > 127
    assert 0.002 < mask.mean() < 0.5, f"mask covers {mask.mean():.1%} of the image; expected one stroke"
    rows, cols = np.nonzero(mask)
    height, width = mask.shape
    assert 0.2 < rows.mean() / height < 0.7 and 0.2 < cols.mean() / width < 0.8, "the stroke is off-place"

    # saving moved on to the next image; back to the labeled one, which shows its label and mask
    expect(position).to_contain_text(f"Image 2 of {len(before)}")
    app.act(page.get_by_role("button", name=re.compile(r"^Previous")).click, "Previous")
    expect(position).to_contain_text(f"Image 1 of {len(before)}: {relpath}")
    expect(
        page.get_by_text(f"Now: anomalous ({NEW_DEFECT}) · version {state.version} by {LABELER}")
    ).to_be_visible()
    no_exception(page)
    snap(page, "02-label")


def test_03_train_runs_two_smoke_jobs(app: App, server: Server, flow: Flow):
    from engine import jobs

    page = app.page
    app.open("Train")
    expect(page.get_by_test_id("stMain").get_by_role("combobox", name="Dataset")).to_have_value(DATASET)
    preset = page.get_by_test_id("stRadio").filter(has_text="Preset")
    app.act(preset.get_by_text("smoke", exact=True).click, "the smoke preset")
    for method in METHODS:
        app.choose(page.get_by_role("combobox", name="Methods"), method)
        expect(
            page.get_by_test_id("stExpander").filter(has_text=f"{method} parameters (smoke preset)")
        ).to_be_visible()
    enqueue = page.get_by_role("button", name=f"Enqueue {len(METHODS)} job(s)")
    app.act(enqueue.click, "Enqueue")
    expect(page.get_by_test_id("stAlertContentSuccess")).to_contain_text("Queued job(s) #")
    for method in METHODS:
        expect(page.get_by_text(re.compile(rf"job #\d+ .*{method} on {DATASET} \(smoke\)"))).to_be_visible()

    # the queue fragment refreshes every 2 s; wait until it shows no active job
    idle = page.get_by_text(re.compile(r"Queue: 0 active job\(s\)"))
    try:
        expect(idle).to_be_visible(timeout=TRAIN_SECONDS * 1000)
    except AssertionError as exc:
        raise AssertionError(
            f"the two smoke jobs did not finish within {TRAIN_SECONDS} s.\nJobs:\n{jobs_text(server)}\n"
            f"{server.log_tail()}"
        ) from exc
    views = {v.method: v for v in jobs.list_jobs(store=Store.at(server.db_url))}
    assert {m: views[m].status for m in METHODS} == dict.fromkeys(METHODS, "DONE"), jobs_text(server)
    assert all(views[m].run_id for m in METHODS)
    expect(page.get_by_text(re.compile(r"Job #\d+ .* failed"))).to_have_count(0)
    finished = page.get_by_test_id("stDataFrame").locator("tbody tr").filter(has_text="DONE")
    expect(finished).to_have_count(len(METHODS))
    no_exception(page)
    snap(page, "03-train")
    flow.facts["runs"] = {m: views[m].run_id for m in METHODS}


def test_04_compare_shows_both_roc_curves(app: App, flow: Flow):
    page = app.page
    app.open("Compare")
    runs = flow.facts["runs"]
    roc = page.locator(".st-key-roc .js-plotly-plot")
    expect(roc).to_be_visible()
    legend = roc.locator(".legendtext")
    for method in METHODS:
        expect(
            legend.filter(has_text=re.compile(rf"^{method} #{runs[method]} \(AUROC 0\.\d{{3}}\)$"))
        ).to_have_count(1)
    expect(roc.locator(".scatterlayer .trace")).to_have_count(1 + len(METHODS))  # chance + one per run
    no_exception(page)
    shot = snap(page, "04-compare")
    target = (
        COMPARE_PNG if os.environ.get("WORKBENCH_UPDATE_DOCS") == "1" else ARTIFACTS / "compare-small.png"
    )
    save_for_readme(shot, target)
    assert target.stat().st_size < 220_000
    with Image.open(target) as small:
        assert small.width <= 1000


def test_04b_a_reload_keeps_the_user_and_the_dataset(app: App, flow: Flow):
    page = app.page
    name = page.get_by_test_id("stSidebar").get_by_role("textbox", name="Your name")
    name.fill("ada")
    app.act(lambda: name.press("Enter"), "typing the name")
    app.act(page.reload, "reloading the page", timeout_ms=FIRST_LOAD_MS)
    expect(page.get_by_role("heading", name="Compare", exact=True)).to_be_visible()
    expect(name).to_have_value("ada")
    expect(page.get_by_test_id("stSidebar").get_by_role("combobox", name="Dataset")).to_have_value(DATASET)
    no_exception(page)


def test_04c_runs_on_two_label_sets_are_warned_about_and_rescored(app: App, server: Server, flow: Flow):
    from db import labels
    from db import runs as db_runs
    from db.store import Store

    page = app.page
    states = labels.images_to_label(Store.at(server.db_url), flow.facts["dataset_id"], "test")
    normal = next(s for s in reversed(states) if s.label == 0)
    saved = labels.save_label(  # a colleague relabels an image after the runs were scored
        Store.at(server.db_url),
        normal.image_id,
        shown_version=normal.version,
        author="bob",
        label=1,
        defect_type=NEW_DEFECT,
    )
    assert saved.saved
    app.open("Inspect")  # and back, so Compare reads the labels again
    page.wait_for_timeout(5_500)  # the current label fingerprint is cached for 5 s
    app.open("Compare")
    warning = page.get_by_test_id("stAlertContentWarning")
    expect(warning).to_contain_text("scored before the labels last changed")
    app.act(page.get_by_role("button", name=re.compile(r"^Re-score 2 run")).click, "Re-score")
    expect(page.get_by_test_id("stAlertContentSuccess")).to_contain_text("re-scored as #")
    expect(warning).to_have_count(0)
    old = flow.facts["runs"][METHODS[0]]
    page.get_by_role("combobox", name="Runs").click()  # the old run beside the re-scored ones
    option = page.get_by_role("option", name=re.compile(rf"^{METHODS[0]} #{old} "))
    app.act(option.click, "choosing the old run")
    page.keyboard.press("Escape")
    no_exception(page)
    expect(warning).to_contain_text("different test sets")
    snap(page, "04c-compare-two-label-sets")
    box = page.get_by_role("combobox", name="Runs")  # the old run out again (the last chip): on with today's
    box.click()
    app.act(lambda: page.keyboard.press("Backspace"), "removing the old run")
    page.keyboard.press("Escape")
    expect(warning).to_have_count(0)
    finished = db_runs.list_runs(Store.at(server.db_url), dataset_name=DATASET, status="FINISHED")
    flow.facts["runs"] = {m: max(r.id for r in finished if r.method == m) for m in METHODS}


def test_05_embeddings_opens(app: App, flow: Flow):
    page = app.page
    app.open("Embeddings")
    maps = page.locator("[class*='st-key-tsne_'] .js-plotly-plot")
    expect(maps).to_have_count(len(METHODS), timeout=RUN_MS)
    expect(maps.first.locator(".legendtext").filter(has_text="normal centroid")).to_have_count(1)
    no_exception(page)
    snap(page, "05-embeddings")


def test_06_inspect_opens_and_flags_an_image(app: App, server: Server, flow: Flow):
    from db import comments

    page = app.page
    app.open("Inspect")
    runs = flow.facts["runs"]
    for method in METHODS:
        expect(page.get_by_role("heading", name=f"{method} #{runs[method]} · smoke")).to_be_visible()
    expect(page.get_by_text("error map (scale shared by the run)")).to_have_count(len(METHODS))
    heading = page.get_by_role("heading", level=3).filter(has_text=" · ")
    image = heading.inner_text().split(" · ")[0].strip()
    app.act(page.get_by_role("button", name="Flag for review").click, "Flag for review")
    expect(page.get_by_role("button", name="Unflag")).to_be_visible()
    no_exception(page)
    assert image in {f.image_name for f in comments.list_flags(Store.at(server.db_url), DATASET)}
    snap(page, "06-inspect")
    flow.facts["flagged"] = image


def test_07_review_comments_and_exports_the_report(app: App, server: Server, flow: Flow):
    from db import comments

    page = app.page
    app.open("Review")
    expect(page.locator(".st-key-review_roc .js-plotly-plot")).to_be_visible()
    expect(page.get_by_text(flow.facts["flagged"], exact=True)).to_be_visible()  # the chosen example

    text = f"Both runs find the large impurities; check the faint ones ({time.strftime('%H:%M:%S')})"
    form = page.get_by_test_id("stForm").filter(has=page.get_by_role("combobox", name="About"))
    form.get_by_role("textbox", name="Comment").fill(text)
    app.act(form.get_by_role("button", name="Add comment").click, "Add comment")
    message = page.get_by_test_id("stChatMessage").filter(has_text=text)
    expect(message).to_be_visible()
    expect(message).to_contain_text("ada")  # the name typed before the reload (step 04b)
    assert [c.text for c in comments.list_comments(Store.at(server.db_url), DATASET)] == [text]
    no_exception(page)

    with page.expect_download(timeout=RUN_MS) as download_info:
        page.get_by_role("button", name="Download the HTML report").click()
    download = download_info.value
    assert download.failure() is None, download.failure()
    assert re.fullmatch(rf"review-{DATASET}-\d{{8}}-\d{{4}}\.html", download.suggested_filename)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    report = ARTIFACTS / "07-review-report.html"
    download.save_as(report)
    html = report.read_text(encoding="utf-8")
    assert html.lstrip().startswith("<!DOCTYPE html>") and html.rstrip().endswith("</html>")
    assert 'class="plotly-graph-div"' in html and "Plotly.newPlot" in html, "no Plotly figure in the report"
    for method in METHODS:
        assert f"{method} #{flow.facts['runs'][method]}" in html
    assert text in html and flow.facts["flagged"] in html  # the comment and the chosen example
    snap(page, "07-review")


def test_08_presentation_mode_fills_a_meeting_screen(app: App, flow: Flow):
    page = app.page
    before = page.viewport_size
    page.set_viewport_size(MEETING_SCREEN)
    try:
        app.act(page.get_by_text("Presentation mode", exact=True).click, "Presentation mode")
        tables = page.get_by_role("table")  # the leaderboard alone on the first slide
        expect(tables).to_have_count(1)
        expect(tables.first).to_be_visible()
        app.act(page.get_by_role("button", name="Next").click, "Next")
        expect(page.get_by_role("table").last).to_contain_text("best")  # which differences are real
        app.act(page.get_by_role("button", name="Next").click, "Next")
        roc = page.locator(".st-key-present_roc .js-plotly-plot")
        expect(roc).to_be_visible()
        expect(page.locator(".js-plotly-plot")).to_have_count(1)  # one section per screen
        runs = flow.facts["runs"]
        legend = roc.locator(".legendtext")
        for method in METHODS:  # each run's chosen threshold marked on its curve
            expect(
                legend.filter(has_text=re.compile(rf"^{method} #{runs[method]} at [01]\.\d\d\d$"))
            ).to_have_count(1)
        no_exception(page)

        content_width = page.get_by_test_id("stMainBlockContainer").evaluate(
            "e => { const s = getComputedStyle(e); "
            "return e.clientWidth - parseFloat(s.paddingLeft) - parseFloat(s.paddingRight); }"
        )
        figure = roc.bounding_box()
        plot_area = roc.locator(".nsewdrag").first.bounding_box()
        assert figure["width"] >= 0.97 * content_width, (
            f"the ROC is {figure}, the page {content_width} px wide"
        )
        assert plot_area["width"] >= 0.8 * figure["width"], f"the ROC's axes take {plot_area} of {figure}"
        assert figure["y"] + figure["height"] <= MEETING_SCREEN["height"], (
            f"the ROC runs off the screen: {figure}"
        )
        font_px = "e => parseFloat(getComputedStyle(e).fontSize)"
        assert roc.locator(".xtick text").first.evaluate(font_px) >= 16
        assert legend.first.evaluate(font_px) >= 16

        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shot = ARTIFACTS / "08-presentation.png"
        page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
        page.screenshot(path=shot)  # the screen as the room sees it
        with Image.open(shot) as picture:
            assert picture.size == (MEETING_SCREEN["width"], MEETING_SCREEN["height"])
        target = (
            PRESENTATION_PNG
            if os.environ.get("WORKBENCH_UPDATE_DOCS") == "1"
            else ARTIFACTS / "presentation-small.png"
        )
        save_for_readme(shot, target)
        assert target.stat().st_size < 220_000

        # the chosen example on a screen of its own: zoomable maps with a colour bar, its comments beside it
        section = page.get_by_role("combobox", name="Section")
        app.choose(section, f"Example 1: {flow.facts['flagged']}")
        pictures = page.locator("[class*='st-key-present_picture_'] .js-plotly-plot")
        expect(pictures).to_have_count(1 + len(METHODS))  # the input and each run's error map
        expect(pictures.nth(1).locator(".colorbar")).to_have_count(1)
        assert pictures.nth(1).bounding_box()["width"] >= 180  # the page's pictures are 128 px
        expect(page.get_by_text("Comments on this image", exact=True)).to_be_visible()
        no_exception(page)
        page.screenshot(path=ARTIFACTS / "08b-presentation-example.png")
    finally:
        page.set_viewport_size(before)
