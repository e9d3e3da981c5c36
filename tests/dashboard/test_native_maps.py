"""Maps at the image's own resolution in the product: a dataset of 640x480 and 1000x700 images with a run at a
square size (32 px maps) and a run at the native preset (full-size maps, padded in the artifact). Inspect shows
each run's map over the image at its own size in a zoomable figure, the gallery keeps the images' aspect ratio,
Review, its deck and the report carry full-size pictures, and a mask drawn on the Label canvas is saved at the
image's own size."""

from __future__ import annotations

import base64
import io
import json
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from db.store import Store
from tests.dashboard.conftest import _clear_streamlit_caches, _env_for
from tests.dashboard.plotly_spec import gallery_grid
from tests.synthetic_mvtec import make_sized_folder

DATASET = "wide"
SIZES = [(480, 640), (700, 1000)]  # (H, W) of the images, cycled: train and test hold both
BIG, SMALL = "test/defect/001.png", "test/defect/000.png"  # 1000x700 and 640x480, each with a mask
NATIVE = (("tile", "128"), ("tile_stride", "128"), ("weights", "random"), ("d", "16"), ("batch_size", "8"))
INSPECT, REVIEW, LABEL = "dashboard/pages/inspect.py", "dashboard/pages/review.py", "dashboard/pages/label.py"


@pytest.fixture(scope="module")
def wide_store(tmp_path_factory: pytest.TempPathFactory, mlflow_template: Path):
    """Dataset `wide` imported, one autoencoder run at 32 px and one padim run at the native preset."""
    from db.store import Store
    from engine.data.importer import import_dataset
    from engine.run import train_and_evaluate
    from engine.runconfig import RunConfig

    root = tmp_path_factory.mktemp("wide")
    env = _env_for(root, mlflow_template)
    patch = pytest.MonkeyPatch()
    for key, value in env.items():
        patch.setenv(key, value)
    Store.dispose_all()
    try:
        import_dataset(make_sized_folder(root / "source", SIZES, n_train=4, n_test=2), DATASET)
        square = train_and_evaluate(RunConfig(DATASET, "autoencoder", "smoke", image_size=32)).run_id
        native = train_and_evaluate(RunConfig(DATASET, "padim", "native", overrides=NATIVE)).run_id
        yield env, {"square": square, "native": native}
    finally:
        Store.dispose_all()
        patch.undo()


@pytest.fixture
def wide(wide_store, monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    from db.store import Store

    env, run_ids = wide_store
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    Store.dispose_all()
    _clear_streamlit_caches()
    yield run_ids
    Store.dispose_all()
    _clear_streamlit_caches()


def _png_size(data: bytes | str) -> tuple[int, int]:
    """(width, height) of PNG bytes or a data URL."""
    if isinstance(data, str):
        data = base64.b64decode(data.split(",", 1)[1])
    with Image.open(io.BytesIO(data)) as image:
        return image.size


def _runs(run_ids: dict[str, int]):
    from dashboard import results_cache

    return [r for r in results_cache.finished_runs(DATASET) if r.id in run_ids.values()]


@pytest.mark.slow  # pages over a native run on full-size images
def test_inspect_shows_each_runs_map_over_the_image_at_its_own_size(wide, app):
    from db import runs as db_runs
    from db.store import Store
    from engine.artifacts import load_predictions

    maps = load_predictions(db_runs.get_run(Store.at(), wide["native"])).get("anomaly_maps")
    assert maps.shape == (4, 700, 1000)  # the 640x480 images' maps are padded with NaN in the artifact
    at = app(INSPECT, dataset=DATASET)
    for name, (height, width) in ((BIG, SIZES[1]), (SMALL, SIZES[0])):
        at.selectbox(key="inspect_image").set_value(name).run()
        assert not at.exception
        zooms = {
            c.proto.id: json.loads(c.proto.spec)
            for c in at.get("plotly_chart")
            if "inspect_zoom_" in c.proto.id
        }
        assert len(zooms) == 2, "one zoomable map per run"
        for spec in zooms.values():
            picture = spec["data"][0]
            assert picture["type"] == "image" and _png_size(picture["source"]) == (width, height)
            assert spec["layout"]["xaxis"]["range"] == [-0.5, width - 0.5]
            assert spec["layout"]["yaxis"]["range"] == [height - 0.5, -0.5]  # top down, as an image
            assert spec["layout"]["yaxis"]["scaleanchor"] == "x"  # square pixels: its aspect ratio kept
            assert f"{width}x{height} px" in spec["layout"]["title"]["text"]


@pytest.mark.slow  # pages over a native run on full-size images
def test_inspect_pictures_keep_the_images_aspect_ratio_and_crop_the_padding(wide):
    from dashboard import inspect_view, pictures, results_cache

    square, native = (next(r for r in _runs(wide) if r.id == wide[k]) for k in ("square", "native"))
    for run in (square, native):
        views = results_cache.image_views(run.id, SMALL)
        lo, hi = results_cache.map_range(run.id)
        picture = inspect_view.own_picture(run, SMALL)
        assert picture.shape == (480, 640, 3)  # the file, not the run's 32 px square
        zoom = inspect_view.zoom_picture(picture, views, lo, hi)
        assert zoom.shape == (480, 640, 3)
        shown, caption = inspect_view.input_picture(run, SMALL, views.mask, 640, views.anomaly_map)
        assert shown.shape == (480, 640, 3) and caption == "input (defect outlined)"
        outline = np.all(shown == (0, 220, 90), axis=-1)
        rows, cols = np.nonzero(outline)  # the 12 px defect square at (40, 30), not a stretched one
        assert abs(rows.min() - 40) <= 2 and abs(rows.max() - 51) <= 2
        assert abs(cols.min() - 30) <= 2 and abs(cols.max() - 41) <= 2
    padded = results_cache.image_views(native.id, SMALL).anomaly_map
    assert padded.shape == (700, 1000) and np.isnan(padded[600, 900])
    assert pictures.own_extent(padded).shape == (480, 640)  # its own map, padding cropped
    assert pictures.at_size(results_cache.image_views(square.id, BIG).anomaly_map, 700, 1000).shape == (
        700,
        1000,
    )


@pytest.mark.slow  # pages over a native run on full-size images
def test_gallery_thumbnails_keep_the_images_aspect_ratio(wide, app):
    at = app(INSPECT, dataset=DATASET)
    assert not at.exception
    grid = gallery_grid(at)
    sizes = {_png_size(image["source"]) for image in grid["layout"]["images"]}
    assert sizes == {(96, 72), (96, 67)}  # 640x480 and 1000x700 at 96 px, not 96x96 squares


@pytest.mark.slow  # pages over a native run on full-size images
def test_review_examples_deck_and_report_carry_full_size_pictures(wide, app):
    from dashboard import review_view
    from db import comments

    comments.flag_image(Store.at(), DATASET, BIG, "ann", run_id=wide["square"])
    runs = _runs(wide)
    image = review_view.flagged_image(BIG, runs)
    assert image.picture.shape == (700, 1000, 3)  # the deck's zoomable figures draw on it
    assert {view.views.anomaly_map.shape for view in image.views} == {(32, 32), (700, 1000)}
    flag = comments.list_flags(Store.at(), DATASET)[0]
    example = review_view.example(flag, runs)
    assert [_png_size(png) for _, png in example.pictures] == [(1000, 700)] * 3  # input and one map per run
    small = review_view.flagged_image(SMALL, runs)  # its native map is cropped out of the padded artifact
    assert small.picture.shape == (480, 640, 3)
    assert {view.views.anomaly_map.shape for view in small.views} == {(32, 32), (480, 640)}

    page = review_view.report_html(DATASET, runs, "ann")
    pictures = re.findall(
        r'<img alt="[^"]*" src="(data:image/png;base64,[A-Za-z0-9+/=]+)" tabindex="0"', page
    )
    assert [_png_size(p) for p in pictures] == [(1000, 700)] * 3

    at = app(REVIEW, dataset=DATASET)
    assert not at.exception
    assert "input" in [c for image in at.image for c in image.captions]


def _canvas(at) -> dict:
    sent = [json.loads(c.proto.json) for c in at.main.get("bidi_component")]
    (args,) = [a for a in sent if "canvasWidth" in a]
    return args


@pytest.mark.parametrize("zoom", [1.0, pytest.param(4.0, marks=pytest.mark.slow)])  # 4x: a 16x larger canvas
def test_a_mask_drawn_on_a_large_image_is_saved_at_its_own_size(zoom, fresh_env, tmp_path, app):
    from dashboard import label_canvas
    from dashboard.label_panels import NEW_TYPE
    from db import datasets as db_datasets
    from db import labels
    from db.store import Store
    from engine.data.importer import import_dataset
    from engine.data.masks import DRAW_COLOR

    import_dataset(make_sized_folder(tmp_path / "src", [(700, 1000)], n_train=2, n_test=1), DATASET)
    record = db_datasets.get_dataset(Store.at(), DATASET)
    at = app(LABEL, dataset=DATASET, user="ann")
    at.select_slider(key="label_zoom").set_value(zoom).run()
    image = labels.images_to_label(Store.at(), record.id)[0]
    assert Image.open(Path(record.root) / image.relpath).size == (1000, 700)
    canvas = _canvas(at)
    width, height = canvas["canvasWidth"], canvas["canvasHeight"]
    assert (width, height) == (
        round(label_canvas.CANVAS_WIDTH * zoom),
        round(label_canvas.CANVAS_WIDTH * zoom * 0.7),
    )
    at.selectbox(key="defect_choice").select(NEW_TYPE).run()
    at.text_input(key="defect_new").input("blob").run()
    strokes = np.zeros((height, width, 4), dtype=np.uint8)  # a stroke over the left half's top half
    strokes[: height // 2, : width // 2] = [*(int(DRAW_COLOR[i : i + 2], 16) for i in (1, 3, 5)), 255]
    at.session_state["label_strokes"] = (image.image_id, strokes)
    at.button(key="label_anomalous").click().run()
    assert not at.exception
    state = labels.label_state(Store.at(), image.image_id)
    with Image.open(Path(record.root) / state.mask_relpath) as saved:
        assert saved.size == (1000, 700)  # the image's own size, not the canvas's
        mask = np.asarray(saved) > 127
    assert mask[:345, :495].all() and not mask[355:].any() and not mask[:, 505:].any()
