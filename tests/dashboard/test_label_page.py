import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from dashboard import label_canvas, label_panels, labeling
from dashboard.label_panels import NEW_TYPE
from db import datasets as db_datasets
from db import labels
from db.store import Store
from engine.data.importer import import_dataset
from engine.data.masks import DRAW_COLOR, load_mask
from engine.data.types import DatasetError
from tests.synthetic_mvtec import make_mvtec_folder, normal_image, png_bytes

pytestmark = pytest.mark.slow  # AppTest runs of the whole Label page

PAGE = "dashboard/pages/label.py"


@pytest.fixture
def toy(fresh_env, tmp_path):
    import_dataset(
        make_mvtec_folder(tmp_path / "src", n_train=4, n_good=3, defects={"square": 3}, size=32), "toy"
    )
    return db_datasets.get_dataset(Store.at(), "toy")


def _shown(at) -> str:
    return at.main.get("progress")[0].proto.text


def _strokes(box: tuple[slice, slice], color: str = DRAW_COLOR, size: int = 448) -> np.ndarray:
    """A canvas image (RGBA) with one opaque stroke of `color` over `box` (in canvas pixels)."""
    rgba = np.zeros((size, size, 4), dtype=np.uint8)
    rgb = [int(color[i : i + 2], 16) for i in (1, 3, 5)]
    rgba[box] = [*rgb, 255]
    return rgba


def test_step_and_label_with_keyboard_buttons(toy, app):
    at = app(PAGE, dataset="toy", user="ann")
    assert not at.exception
    assert "Image 1 of 6" in _shown(at) and "test/good/000.png" in _shown(at)
    assert at.button(key="label_normal").proto.shortcut.lower() == "n"
    at.button(key="next").click().run()
    assert "Image 2 of 6" in _shown(at)
    at.button(key="label_normal").click().run()  # saves and advances
    assert not at.exception
    assert "Image 3 of 6" in _shown(at)
    state = next(s for s in labels.images_to_label(Store.at(), toy.id) if s.relpath == "test/good/001.png")
    assert (state.label, state.labeled_by, state.version) == (0, "ann", 1)
    assert "Saved test/good/001.png: normal (version 1 by ann)" in at.success[0].value


def test_conflict_is_shown_and_resolved_by_choice(toy, app):
    at = app(PAGE, dataset="toy", user="bob")  # bob is shown test/good/000.png at version 0
    image = labels.images_to_label(Store.at(), toy.id)[0]
    labels.save_label(
        Store.at(), image.image_id, shown_version=0, author="ann", label=1, defect_type="square"
    )

    at.button(key="label_normal").click().run()
    assert not at.exception
    warning = at.warning[0].value
    assert (
        "Conflict" in warning and "ann" in warning and "anomalous (square)" in warning and "normal" in warning
    )
    assert labels.label_state(Store.at(), image.image_id).labeled_by == "ann"  # nothing overwritten

    at.button(key="use_mine").click().run()
    state = labels.label_state(Store.at(), image.image_id)
    assert (state.label, state.labeled_by, state.version) == (0, "bob", 2)
    assert [e.author for e in labels.label_history(Store.at(), image.image_id)] == ["bob", "ann"]
    assert not at.warning


def test_keep_theirs_leaves_their_label(toy, app):
    at = app(PAGE, dataset="toy", user="bob")
    image = labels.images_to_label(Store.at(), toy.id)[0]
    labels.save_label(Store.at(), image.image_id, shown_version=0, author="ann", label=0)
    at.button(key="label_anomalous").click().run()
    assert "Conflict" in at.warning[0].value
    at.button(key="keep_theirs").click().run()
    assert labels.label_state(Store.at(), image.image_id).labeled_by == "ann"
    assert "Kept the other label" in at.info[0].value


def test_drawn_strokes_become_the_mask(toy, app):
    at = app(PAGE, dataset="toy", user="ann")
    image = labels.images_to_label(Store.at(), toy.id)[0]  # a normal 32x32 image
    at.selectbox(key="defect_choice").select(NEW_TYPE).run()
    at.text_input(key="defect_new").input("blob").run()
    # what the canvas sends after a red stroke over its top-left quarter (448 px canvas -> 32 px image)
    at.session_state["label_strokes"] = (image.image_id, _strokes((slice(0, 224), slice(0, 224))))
    at.button(key="label_anomalous").click().run()
    assert not at.exception
    state = labels.label_state(Store.at(), image.image_id)
    assert (state.label, state.defect_type) == (1, "blob")
    assert state.mask_relpath.startswith("ground_truth/blob/000_")
    mask = load_mask(toy.root, state.mask_relpath, 32, 32)
    assert mask[:16, :16].all() and not mask[16:, :].any()
    # the new type stays picked for the next image, and its text box is gone
    assert at.selectbox(key="defect_choice").value == "blob"
    assert not [t for t in at.text_input if t.key == "defect_new"]


def test_prepare_erases_part_of_an_existing_mask(toy):
    image = labels.images_to_label(Store.at(), toy.id, split="test")[-1]  # test/square/002.png, has a mask
    base = load_mask(toy.root, image.mask_relpath, 32, 32)
    erase = np.zeros((32, 32, 4), dtype=np.uint8)
    erase[..., 2], erase[..., 3] = 255, 255  # blue everywhere: erase all
    change = labeling.prepare(toy.root, image, 1, "square", erase, (32, 32))
    assert base.any() and change.new_mask
    assert not load_mask(toy.root, change.mask_relpath, 32, 32).any()


def test_suggest_next_orders_by_disagreement(dashboard_env, app):
    at = app(PAGE, dataset="toy")
    at.selectbox(key="label_order").select("suggest next: methods disagree").run()
    assert not at.exception
    record = db_datasets.get_dataset(Store.at(), "toy")
    scores = labels.latest_method_scores(Store.at(), "toy")
    assert set(scores) == {"autoencoder", "vae"}
    names = [s.relpath for s in labels.images_to_label(Store.at(), record.id)]
    top = labels.rank_for_labeling(names, scores, "disagreement")[0]
    assert top.name in _shown(at)
    assert f"spread {top.spread:.2f} over 2 method(s)" in " ".join(m.value for m in at.markdown)


def test_add_images_then_export(toy, app, tmp_path):
    at = app(PAGE, dataset="toy", user="ann")
    new = png_bytes(normal_image(np.random.default_rng(9), 32, 3))
    at.file_uploader(key="label_upload_0").set_value(
        [("new one.png", new, "image/png"), ("x.png", b"junk", "image/png")]
    )
    at.run()
    at.button(key="add_images").click().run()
    assert "Added 1 image(s) to toy; skipped 1" in at.success[0].value
    at.run()
    assert not at.file_uploader[0].value  # the next addition starts empty, not with these files again
    at.toggle(key="label_only_unlabeled").set_value(True).run()
    assert "Image 1 of 1" in _shown(at) and "test/unlabeled/new_one.png" in _shown(at)

    at.button(key="build_export").click().run()
    assert not at.exception
    data = at.get("download_button")[0]
    assert data is not None
    path = db_datasets.get_dataset(Store.at(), "toy").root.rsplit("/", 1)[0]
    with zipfile.ZipFile(f"{path}/.exports/toy.zip") as archive:
        names = archive.namelist()
    assert "toy/test/square/000.png" in names and not any("unlabeled" in n for n in names)


def test_save_after_a_widget_interaction_still_shows_the_conflict(toy, app):
    at = app(PAGE, dataset="toy", user="bob")  # bob is shown test/good/000.png at version 0
    image = labels.images_to_label(Store.at(), toy.id)[0]
    labels.save_label(
        Store.at(), image.image_id, shown_version=0, author="ann", label=1, defect_type="square"
    )
    at.selectbox(key="defect_choice").select(NEW_TYPE).run()  # a rerun: the page reads ann's version 1
    at.text_input(key="defect_new").input("dent").run()
    assert "version 0" in " ".join(m.value for m in at.markdown)  # still the version bob was shown
    assert any("ann changed this image" in i.value for i in at.info)
    at.button(key="label_anomalous").click().run()
    assert not at.exception
    assert at.warning and "Conflict" in at.warning[0].value and "ann" in at.warning[0].value
    state = labels.label_state(Store.at(), image.image_id)
    assert (state.labeled_by, state.defect_type, state.version) == ("ann", "square", 1)


@pytest.mark.parametrize("rerun_first", [False, True], ids=["click", "rerun-then-click"])
def test_save_in_only_unlabeled_mode_after_someone_else_labeled_it_shows_the_conflict(toy, app, rerun_first):
    for image in labels.images_to_label(Store.at(), toy.id):
        labels.save_label(Store.at(), image.image_id, shown_version=image.version, author="carl", label=None)
    first = labels.images_to_label(Store.at(), toy.id)[0]
    at = app(PAGE, dataset="toy", user="bob")
    at.toggle(key="label_only_unlabeled").set_value(True).run()
    assert "Image 1 of 6" in _shown(at) and first.relpath in _shown(at)
    labels.save_label(
        Store.at(), first.image_id, shown_version=first.version, author="ann", label=0
    )  # leaves the filter
    if rerun_first:
        at.slider(key="brush_size").set_value(20).run()  # any widget: a rerun reads the store again
        assert first.relpath in _shown(at)  # still the image bob was shown, at the version shown
    at.button(key="label_none").click().run()
    assert not at.exception
    assert at.warning and "Conflict" in at.warning[0].value and "ann" in at.warning[0].value
    assert labels.label_state(Store.at(), first.image_id).labeled_by == "ann"
    at.button(key="keep_theirs").click().run()
    assert "Image 1 of 5" in _shown(at) and first.relpath not in _shown(at)


def test_a_missing_image_file_is_one_sentence_and_the_page_goes_on(toy, app):
    first, second = labels.images_to_label(Store.at(), toy.id)[:2]
    (Path(toy.root) / first.relpath).unlink()
    at = app(PAGE, dataset="toy", user="ann")
    assert not at.exception
    assert [e.value for e in at.error] == [
        f"The image file {first.relpath} is missing or cannot be read, so it cannot be labeled here; "
        "go on with Next."
    ]
    at.button(key="next").click().run()
    assert not at.exception and not at.error
    assert second.relpath in _shown(at)
    at.button(key="label_normal").click().run()
    assert labels.label_state(Store.at(), second.image_id).labeled_by == "ann"


def test_an_export_that_cannot_be_written_is_one_sentence(toy, app):
    (Path(toy.root).parent / ".exports").write_text("a file where the exports folder goes")
    at = app(PAGE, dataset="toy", user="ann")
    at.button(key="build_export").click().run()
    assert not at.exception
    assert [e.value for e in at.error] == [
        "The export zip of toy could not be written (the server log has the details)."
    ]


def test_a_defect_type_with_spaces_is_saved(toy, app):
    at = app(PAGE, dataset="toy", user="ann")
    image = labels.images_to_label(Store.at(), toy.id)[0]
    at.selectbox(key="defect_choice").select(NEW_TYPE).run()
    at.text_input(key="defect_new").input(" dark  area ").run()
    at.session_state["label_strokes"] = (image.image_id, _strokes((slice(0, 100), slice(0, 100))))
    at.button(key="label_anomalous").click().run()
    assert not at.exception and not at.error
    state = labels.label_state(Store.at(), image.image_id)
    assert (state.label, state.defect_type) == (1, "dark area")
    assert state.mask_relpath.startswith("ground_truth/dark area/")
    assert load_mask(toy.root, state.mask_relpath, 32, 32)[:4, :4].all()
    with pytest.raises(DatasetError, match="not starting with '.'"):
        labeling.prepare(toy.root, image, 1, "../dark area", None, (32, 32))


def test_a_page_opened_without_a_name_asks_for_one_before_labeling(toy, app):
    at = app(PAGE, dataset="toy", user="")
    assert not at.exception
    assert "Type your name" in at.info[0].value
    assert not [b for b in at.button if b.key == "label_normal"]  # nothing to label "anonymous" with
    at.session_state["user"] = "ann"
    at.run()
    at.button(key="label_normal").click().run()
    first = labels.images_to_label(Store.at(), toy.id)[0]
    assert labels.label_state(Store.at(), first.image_id).labeled_by == "ann"


def test_the_url_keeps_the_image_shown_so_a_reload_comes_back_to_it(toy, app):
    from streamlit.testing.v1 import AppTest

    from tests.dashboard.conftest import PROJECT

    at = app(PAGE, dataset="toy", user="ann")
    at.button(key="next").click().run()
    at.button(key="next").click().run()
    assert "Image 3 of 6: test/good/002.png" in _shown(at)
    assert at.query_params["image"] == "test/good/002.png"

    reloaded = AppTest.from_file(str(PROJECT / PAGE), default_timeout=60)  # a new session on that URL
    reloaded.session_state["user"], reloaded.session_state["dataset"] = "ann", "toy"
    reloaded.query_params["image"] = "test/good/002.png"
    reloaded.run()
    assert not reloaded.exception
    assert "Image 3 of 6: test/good/002.png" in _shown(reloaded)
    reloaded.button(key="next").click().run()  # and goes on from there
    assert "Image 4 of 6" in _shown(reloaded)


def test_a_key_pressed_before_the_next_image_shows_saves_nothing(toy):
    first, second = labels.images_to_label(Store.at(), toy.id)[:2]
    assert labeling.early_press(first, second, None)  # the page shows the next image already
    assert labeling.early_press(first, None, (first.image_id, first.version))  # this session just saved it
    assert not labeling.early_press(first, first, None)
    assert not labeling.early_press(first, None, (first.image_id, first.version - 1))


def test_a_press_for_an_image_no_longer_shown_says_so_and_saves_nothing(toy, app):
    at = app(PAGE, dataset="toy", user="ann")
    first, second = labels.images_to_label(Store.at(), toy.id)[:2]
    at.session_state["label_pinned"] = (toy.id, second)  # the next image is up; the press was for the first
    at.button(key="label_normal").click().run()
    assert not at.exception
    assert label_panels.EARLY_PRESS in [i.value for i in at.info]
    assert (
        labels.label_state(Store.at(), first.image_id).version == 0
        and labels.label_state(Store.at(), second.image_id).version == 0
    )


def test_a_zoom_change_keeps_the_strokes_scaled_to_the_new_canvas(toy, app):
    at = app(PAGE, dataset="toy", user="ann")
    kept = at.session_state[label_canvas.DRAWING]
    stroke = {"type": "Path", "left": 40.0, "top": 60.0, "scaleX": 1.0, "scaleY": 1.0, "path": [["M", 0, 0]]}
    # what the canvas sends after one stroke at zoom 1
    at.session_state[label_canvas.DRAWING] = {**kept, "latest": {"objects": [stroke]}, "latest_zoom": 1.0}
    at.select_slider(key="label_zoom").set_value(2.0).run()
    assert not at.exception
    initial = at.session_state[label_canvas.DRAWING]["initial"]
    assert initial["objects"][0] | {"path": None} == stroke | {
        "left": 80.0,
        "top": 120.0,
        "scaleX": 2.0,
        "scaleY": 2.0,
        "path": None,
    }
    assert at.session_state[label_canvas.DRAWING]["key"] == kept["key"]  # the same canvas, not a new one
    sent = [json.loads(c.proto.json) for c in at.main.get("bidi_component")]
    (canvas,) = [a for a in sent if "canvasWidth" in a]
    assert canvas["canvasWidth"] == 2 * label_canvas.CANVAS_WIDTH
    assert canvas["initialDrawing"]["objects"][0]["left"] == 80.0  # the canvas redraws the stroke, scaled
