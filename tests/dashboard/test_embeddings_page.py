import numpy as np
import pytest

import dashboard.projection
from dashboard import embedding_view
from dashboard.embedding_figures import SELECTED
from db import runs as db_runs
from db.store import Store
from engine.artifacts import load_predictions
from tests.dashboard.plotly_spec import array, figures_on

pytestmark = pytest.mark.slow  # AppTest runs of the Embeddings page: projections of trained runs

PAGE = "dashboard/pages/embeddings.py"


def test_one_map_per_run_with_all_test_points_training_sample_and_centroid(results_env, app):
    at = app(PAGE, dataset=results_env.dataset)
    assert not at.exception
    figures = figures_on(at)
    assert set(figures) == {
        f"autoencoder #{results_env.autoencoder} (t-SNE)",
        f"deep_svdd #{results_env.deep_svdd} (t-SNE)",
    }

    run = db_runs.get_run(Store.at(), results_env.deep_svdd)
    rows = {r.image_name: r for r in db_runs.get_predictions(Store.at(), run.id)}
    traces = {t["name"]: t for t in figures[f"deep_svdd #{run.id} (t-SNE)"]["data"]}
    assert set(traces) == {"train (normal)", "normal (6)", "anomalous (8)", "normal centroid"}
    shown = {}
    for name in ("normal (6)", "anomalous (8)"):
        for custom in traces[name]["customdata"]:
            shown[custom[0]] = custom
    assert set(shown) == set(rows)
    # the hover's score is the normalised one that Compare's thresholds and Inspect show
    assert all(custom[2] == pytest.approx(rows[n].score_normalized) for n, custom in shown.items())
    hover = traces["anomalous (8)"]["hovertemplate"]
    assert "normalised score %{customdata[2]:.3f}" in hover
    assert all(custom[1] == ("normal" if rows[n].label == 0 else "anomalous") for n, custom in shown.items())
    train_sample = load_predictions(run).get("train_embeddings")
    assert len(array(traces["train (normal)"]["x"])) == min(200, len(train_sample))
    centroid = traces["normal centroid"]
    assert len(array(centroid["x"])) == 1 and np.isfinite(array(centroid["x"])).all()
    assert np.isfinite(array(traces["anomalous (8)"]["x"])).all()


def test_colour_by_defect_type(results_env, app):
    at = app(PAGE, dataset=results_env.dataset)
    at = at.radio(key="embedding_colour").set_value("defect type").run()
    assert not at.exception
    traces = [t["name"] for t in figures_on(at)[f"autoencoder #{results_env.autoencoder} (t-SNE)"]["data"]]
    assert traces == ["train (normal)", "good (6)", "spot (4)", "square (4)", "normal centroid"]


def test_coordinates_are_computed_once_per_run(results_env, app, monkeypatch):
    calls = []
    original = dashboard.projection.embedding_map

    def counting(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(dashboard.projection, "embedding_map", counting)
    at = app(PAGE, dataset=results_env.dataset)
    first = figures_on(at)
    at = at.radio(key="embedding_colour").set_value("defect type").run()
    at = at.radio(key="embedding_colour").set_value("label").run()
    assert not at.exception
    assert len(calls) == 2  # two runs, three page runs
    assert figures_on(at) == first


def test_side_panel_shows_the_image_and_its_score_in_each_run(results_env, app):
    at = app(PAGE, dataset=results_env.dataset)
    name = "test/square/001.png"
    at = at.selectbox(key="embedding_image").set_value(name).run()
    assert not at.exception
    assert name in [c for image in at.image for c in image.captions]
    text = " ".join(m.value for m in at.markdown)
    for run_id in results_env.latest:
        row = next(r for r in db_runs.get_predictions(Store.at(), run_id) if r.image_name == name)
        assert f"score {row.score:.4g} (normalised {row.score_normalized:.2f})" in text
    assert "anomalous (square)" in text


def _ring(figure: dict) -> tuple[float, float] | None:
    rings = [t for t in figure["data"] if t["name"] == SELECTED]
    return (float(array(rings[0]["x"])[0]), float(array(rings[0]["y"])[0])) if rings else None


def _point_of(figure: dict, name: str) -> tuple[float, float]:
    for trace in figure["data"]:
        for i, custom in enumerate(trace.get("customdata") or []):
            if custom[0] == name:
                return float(array(trace["x"])[i]), float(array(trace["y"])[i])
    raise AssertionError(f"{name} is not on the map")


def test_a_click_in_one_map_rings_the_image_in_every_map_and_is_kept_in_the_url(results_env, app):
    at = app(PAGE, dataset=results_env.dataset)
    assert all(_ring(f) is None for f in figures_on(at).values())
    name = "test/spot/002.png"
    # what the browser sends for a click on that point in the deep_svdd map
    at.session_state[embedding_view.chart_key(results_env.deep_svdd, None)] = {
        "selection": {"points": [{"customdata": [name, "anomalous", 0.5]}]}
    }
    at = at.run()
    assert not at.exception
    assert at.selectbox(key="embedding_image").value == name
    figures = figures_on(at)
    assert len(figures) == 2
    for figure in figures.values():
        assert _ring(figure) == pytest.approx(_point_of(figure, name))
    assert name in [c for image in at.image for c in image.captions]  # its thumbnail in the side panel
    assert at.query_params["tsne_image"] == name

    other = "test/good/003.png"  # a click in the other map moves the ring in both
    at.session_state[embedding_view.chart_key(results_env.autoencoder, name)] = {
        "selection": {"points": [{"customdata": [other, "normal", 0.1]}]}
    }
    at = at.run()
    assert at.selectbox(key="embedding_image").value == other
    assert all(_ring(f) == pytest.approx(_point_of(f, other)) for f in figures_on(at).values())
    assert at.query_params["tsne_image"] == other


def test_a_link_with_a_selected_image_rings_it(results_env):
    from streamlit.testing.v1 import AppTest

    from tests.dashboard.conftest import PROJECT

    name = "test/square/002.png"
    at = AppTest.from_file(str(PROJECT / PAGE), default_timeout=60)
    at.session_state["user"], at.session_state["dataset"] = "tester", results_env.dataset
    at.query_params["tsne_image"] = name
    at = at.run()
    assert not at.exception
    assert at.selectbox(key="embedding_image").value == name
    assert all(_ring(f) == pytest.approx(_point_of(f, name)) for f in figures_on(at).values())
