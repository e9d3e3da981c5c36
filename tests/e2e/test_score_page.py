"""Score new images in a real Chromium against a real `streamlit run`: an image uploaded on the Score page is
scored by the dataset's saved padim run, and the page shows the score the run gives it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.e2e.harness import ARTIFACTS, CHROMIUM, Server
from tests.synthetic_mvtec import make_mvtec_folder, normal_image

pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")
from playwright.sync_api import Page, expect  # noqa: E402

from tests.e2e.driver import App, no_exception  # noqa: E402

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.is_file(), reason=f"no Chromium at {CHROMIUM} (apt-get install chromium)"
    ),
]

DATASET = "line"
FIRST_LOAD_MS = 120_000  # the first script run imports torch


@pytest.fixture(scope="module")
def padim(server: Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """`line` in the server's store (16 train; 4 good, 4 'square' test images, 32 px) with a smoke padim run."""
    from db.store import Store
    from engine.data.importer import import_dataset
    from engine.run import train_and_evaluate
    from engine.runconfig import RunConfig

    folder = make_mvtec_folder(tmp_path_factory.mktemp("line") / "src", n_good=4, defects={"square": 4})
    with pytest.MonkeyPatch.context() as patch:
        for key in ("WORKBENCH_DB_URL", "MLFLOW_TRACKING_URI", "WORKBENCH_DATA_DIR"):
            patch.setenv(key, server.env[key])
        Store.dispose_all()
        import_dataset(folder, DATASET)
        run_id = train_and_evaluate(RunConfig(DATASET, "padim", "smoke", image_size=32)).run_id
        Store.dispose_all()
    yield run_id
    Store.dispose_all()


def _expected(server: Server, run_id: int, path: Path) -> float:
    """The run's normalised score of the image, rebuilt here apart from the server."""
    from db.store import Store
    from engine.saved_model import load_saved_model

    with pytest.MonkeyPatch.context() as patch:
        for key in ("WORKBENCH_DB_URL", "MLFLOW_TRACKING_URI", "WORKBENCH_DATA_DIR"):
            patch.setenv(key, server.env[key])
        Store.dispose_all()
        model = load_saved_model(run_id)
        Store.dispose_all()
    with Image.open(path) as image:
        raw = model.score(model.prepare([image])).score.numpy()
    return float(model.normalize(raw)[0])


def test_an_uploaded_image_shows_its_score(ui: Page, server: Server, padim: int, tmp_path: Path):
    upload = tmp_path / "part 7.png"
    Image.fromarray(normal_image(np.random.default_rng(5), 32, 3)).save(upload)
    app = App(ui)
    app.act(
        lambda: ui.goto(f"{server.url}score?user=ann&dataset={DATASET}"),
        "the first page load",
        timeout_ms=FIRST_LOAD_MS,
    )
    expect(ui.get_by_role("heading", name="Score new images", exact=True)).to_be_visible()
    no_exception(ui)

    app.act(lambda: ui.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(upload), "the upload")
    expect(ui.get_by_text(upload.name).first).to_be_visible()
    app.act(ui.get_by_role("button", name="Score", exact=True).click, "Score")
    expect(ui.get_by_text(f"1 image(s) scored by padim #{padim}")).to_be_visible()
    score = _expected(server, padim, upload)
    shown = ui.get_by_text(f"score {score:.2f} ·").first
    expect(shown).to_be_visible()
    no_exception(ui)
    shown.scroll_into_view_if_needed()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    ui.screenshot(path=ARTIFACTS / "score-page.png", full_page=True)
