"""Pictures on Inspect and Embeddings: sent large (a file's own resolution, at least 384 px) so a click on
their fullscreen button shows them full size, every map with its colour scale, "defect outlined" only where an
image has a defect mask, and an Embeddings side panel wide enough for an image name."""

import numpy as np
import pytest

from dashboard import embedding_view, inspect_view, pictures, results_cache
from db import runs as db_runs
from db.store import Store

pytestmark = pytest.mark.slow  # AppTest runs of the Inspect page's pictures over trained runs

INSPECT = "dashboard/pages/inspect.py"
EMBEDDINGS = "dashboard/pages/embeddings.py"


def _names(run_id: int, label: int) -> list[str]:
    return [r.image_name for r in db_runs.get_predictions(Store.at(), run_id) if r.label == label]


def _captions(at) -> list[str]:
    return [c for image in at.image for c in image.captions]


def test_input_is_outlined_only_where_the_image_has_a_mask(results_env, app):
    at = app(INSPECT, dataset=results_env.dataset)
    normal = _names(results_env.autoencoder, 0)[0]
    at.selectbox(key="inspect_image").set_value(normal).run()
    assert not at.exception
    captions = _captions(at)
    assert captions.count("input") == 2 and "input (defect outlined)" not in captions  # one per run

    anomalous = _names(results_env.autoencoder, 1)[0]
    at.selectbox(key="inspect_image").set_value(anomalous).run()
    assert _captions(at).count("input (defect outlined)") == 2


def test_pictures_are_sent_large_and_maps_carry_their_colour_scale(results_env):
    run = next(r for r in results_cache.finished_runs(results_env.dataset) if r.id == results_env.deep_svdd)
    name = _names(run.id, 1)[0]
    views = results_cache.image_views(run.id, name)
    size = inspect_view.shown_size(inspect_view.original_picture(run.dataset, name))  # a 32 px file
    assert size == inspect_view.PICTURE_PX == 384

    picture, caption = inspect_view.input_picture(run, name, views.mask, size)
    assert picture.shape == (384, 384, 3) and caption == "input (defect outlined)"

    lo, hi = results_cache.map_range(run.id)
    shown = inspect_view.map_picture(views.anomaly_map, lo, hi, size)
    assert shown.shape[0] == 384 and shown.shape[1] > 384 + 40  # the map, then its scale beside it
    bar = shown[:, 384 + 10]  # a column through the colour bar: the map's colours from hi (top) to lo
    top, bottom = pictures.heat(np.array([[1.0, 0.0]]))[0]
    assert np.abs(bar[0].astype(int) - top).max() < 20 and np.abs(bar[-1].astype(int) - bottom).max() < 20


def test_embeddings_panel_is_wide_enough_for_an_image_name(results_env, app):
    name = _names(results_env.deep_svdd, 1)[0]
    at = app(EMBEDDINGS, dataset=results_env.dataset, **{embedding_view.KEY: name})
    assert not at.exception
    assert name in _captions(at)
    plots, panel = (c.weight for c in at.columns[:2])
    assert panel / plots >= 0.4  # about 300 px beside the maps at 1280 px: "cell1036.png" on one line
