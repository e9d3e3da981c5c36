"""Label canvas and navigation: see-through strokes that still save a binary mask, zoom, jump by name,
and why "suggest next" picked an image, including images no run has scored yet."""

import json

import numpy as np
import pytest

from dashboard import label_canvas, labeling
from db import datasets as db_datasets
from db import labels
from db.store import Store
from engine import jobs
from engine.data.additions import add_test_images
from engine.data.importer import import_dataset
from engine.data.masks import apply_strokes
from engine.executors.local import LocalProcessExecutor
from engine.run import train_and_evaluate
from engine.runconfig import RunConfig
from tests.synthetic_mvtec import make_mvtec_folder, normal_image, png_bytes

pytestmark = pytest.mark.slow  # AppTest runs of the Label page's canvas

PAGE = "dashboard/pages/label.py"
DRAW, ERASE = "draw", "erase"


@pytest.fixture
def toy(fresh_env, tmp_path):
    import_dataset(
        make_mvtec_folder(tmp_path / "src", n_train=4, n_good=3, defects={"square": 3}, size=32), "toy"
    )
    return db_datasets.get_dataset(Store.at(), "toy")


def _shown(at) -> str:
    return at.main.get("progress")[0].proto.text


def _canvas(at) -> dict:
    """The arguments the page sent to the drawing canvas (its other component listens to the keys)."""
    sent = [json.loads(c.proto.json) for c in at.main.get("bidi_component")]
    (args,) = [a for a in sent if "canvasWidth" in a]
    return args


def _see_through(box, brush: str, size: int = 64, alpha: float = label_canvas.STROKE_ALPHA) -> np.ndarray:
    """What the canvas sends for a see-through stroke over `box`: its colour at the stroke's alpha."""
    rgba = np.zeros((size, size, 4), dtype=np.uint8)
    hex_color = label_canvas.STROKE_COLORS[brush]
    rgba[box] = [*(int(hex_color[i : i + 2], 16) for i in (1, 3, 5)), round(alpha * 255)]
    return rgba


def test_see_through_strokes_still_make_a_binary_mask():
    assert label_canvas.stroke_color(DRAW) == f"rgba(255, 0, 0, {label_canvas.STROKE_ALPHA})"
    assert label_canvas.STROKE_ALPHA < 0.5  # the image shows through
    stroke = _see_through((slice(0, 32), slice(0, 32)), DRAW)
    stroke[40, 40] = [255, 0, 0, 20]  # a faint anti-aliased edge pixel
    assert not apply_strokes(None, stroke, 64, 64).any()  # as sent, below the mask's opacity cut
    mask = apply_strokes(None, label_canvas.opaque_strokes(stroke), 64, 64)
    assert mask.dtype == bool and mask[:32, :32].all() and mask.sum() == 32 * 32
    erase = label_canvas.opaque_strokes(_see_through((slice(0, 16), slice(0, 64)), ERASE))
    assert mask[:16].any() and not apply_strokes(mask, erase, 64, 64)[:16].any()
    assert label_canvas.opaque_strokes(None) is None


def test_zoom_enlarges_the_canvas_and_the_toolbar_has_room(toy, app):
    at = app(PAGE, dataset="toy", user="ann")
    assert not at.exception
    zoom = at.select_slider(key="label_zoom")
    assert zoom.value == 1.0 and zoom.options[-1] == "4x"
    before = _canvas(at)
    assert before["strokeColor"] == label_canvas.stroke_color(DRAW)
    at.select_slider(key="label_zoom").set_value(2.0).run()
    assert not at.exception
    after = _canvas(at)
    assert (before["canvasWidth"], before["canvasHeight"]) == (label_canvas.CANVAS_WIDTH,) * 2
    assert (after["canvasWidth"], after["canvasHeight"]) == (2 * label_canvas.CANVAS_WIDTH,) * 2
    assert after["maxDisplayHeight"] == label_canvas.CANVAS_WIDTH  # on screen as tall as before: it scrolls
    assert after["strokeWidth"] == 2 * before["strokeWidth"]  # the brush keeps its size on the image


def test_jump_to_an_image_by_name_and_go_on_from_there(toy, app):
    at = app(PAGE, dataset="toy", user="ann")
    assert "Image 1 of 6" in _shown(at)
    jump = at.selectbox(key="label_jump")
    assert "test/square/001.png" in jump.options and jump.value is None
    jump.select("test/square/001.png").run()
    assert not at.exception
    assert "Image 5 of 6" in _shown(at) and "test/square/001.png" in _shown(at)
    assert at.selectbox(key="label_jump").value is None  # ready for the next name
    at.button(key="next").click().run()
    assert "Image 6 of 6" in _shown(at) and "test/square/002.png" in _shown(at)


def test_suggestion_reason_names_runs_and_scores():
    hint = labels.Suggestion("a.png", 0.55, 0.25, 2, 0.25)
    scores = {"vae": {"a.png": 0.8}, "autoencoder": {"a.png": 0.3}}
    runs = {"vae": 12, "autoencoder": 7}
    text = labeling.suggestion_reason(hint, scores, runs, "suggest next: methods disagree")
    assert text == "Methods disagree: spread 0.25 over run #7 (autoencoder) 0.30, run #12 (vae) 0.80."
    text = labeling.suggestion_reason(hint, scores, runs, "suggest next: ensemble unsure")
    assert text.startswith("Ensemble unsure: mean score 0.55 is 0.05 from the 0.50 threshold")
    none = labels.Suggestion("new.png", None, None, 0, float("-inf"))
    assert "added after the latest runs: #7, #12" in labeling.suggestion_reason(none, scores, runs, "x")


def test_suggest_next_explains_and_scores_newly_added_images(toy, app, monkeypatch):
    monkeypatch.setattr(LocalProcessExecutor, "ensure_running", lambda self: True)
    run_id = train_and_evaluate(RunConfig("toy", "autoencoder", "smoke", image_size=32, seed=4)).run_id
    new = png_bytes(normal_image(np.random.default_rng(3), 32, 3))
    add_test_images("toy", [("fresh.png", new)])

    at = app(PAGE, dataset="toy", user="ann")
    at.selectbox(key="label_order").select("suggest next: ensemble unsure").run()
    assert not at.exception
    why = next(m.value for m in at.markdown if m.value.startswith("**Why suggested:**"))
    assert f"run #{run_id} (autoencoder)" in why and "from the 0.50 threshold" in why
    assert "1 image(s) here were added after the latest runs" in at.info[0].value
    at.selectbox(key="label_jump").select("test/unlabeled/fresh.png").run()
    why = next(m.value for m in at.markdown if m.value.startswith("**Why suggested:**"))
    assert f"No method has scored this image (added after the latest runs: #{run_id})" in why

    at.button(key="score_new_images").click().run()
    assert not at.exception
    assert jobs.list_jobs() == []  # predicted with the saved run (tests/dashboard/test_suggest_predicts.py)
    assert f"run #{run_id} (autoencoder) scored 1" in at.success[0].value
    assert f"run #{run_id} (autoencoder)" in next(m.value for m in at.markdown if m.value.startswith("**Why"))
