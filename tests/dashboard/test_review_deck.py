"""The Review page's presentation as a slide deck (AppTest): the runs chosen on the page without a picker or a
sidebar, the arrow-key script, a slide per section in projector sizes, a confusion matrix for every run, maps
over their image on one dark-to-bright scale per run, and the way back. Whether every slide fits the screen is
measured in a real browser (tests/e2e/test_review_deck.py)."""

from __future__ import annotations

import json

import pytest
from streamlit.testing.v1 import AppTest

from dashboard import presentation, results_cache, review_slides
from db import comments
from db import runs as db_runs
from db.store import Store
from engine import ensemble_runs
from tests.dashboard.conftest import PROJECT
from tests.dashboard.plotly_spec import figures_on

pytestmark = pytest.mark.slow  # AppTest runs of the review deck over trained runs

PAGE = "dashboard/pages/review.py"
FLAGGED = ("test/square/001.png", "test/spot/000.png")


def _specs(at) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def _font(spec: dict, *path: str) -> float:
    """A figure's text size at `path` in its layout, else the layout's font size."""
    node = spec["layout"]
    for key in path:
        node = node.get(key, {})
    return node.get("size") or spec["layout"]["font"]["size"]


def test_the_deck_shows_the_runs_chosen_on_the_page_without_picker_title_or_sidebar(results_env, app):
    chosen = [results_env.old_autoencoder, results_env.deep_svdd]  # not the default (latest of each method)
    at = app(
        PAGE, dataset=results_env.dataset, selected_runs={results_env.dataset: chosen}, presentation=True
    )
    assert not at.exception
    assert not at.multiselect and not at.title  # no run picker, no page title on a slide
    [page_style] = at.get("html")
    assert '[data-testid="stSidebar"]' in page_style.proto.body and "display: none" in page_style.proto.body
    assert "ArrowRight" in page_style.proto.body and "section_next" in page_style.proto.body  # the keys
    board = at.table[0].value
    assert sorted(board["run"]) == sorted(f"{db_runs.get_run(Store.at(), r).method} #{r}" for r in chosen)

    at = at.button(key="present_exit").click().run()  # back to the page, with its picker and the same runs
    assert not at.exception and at.toggle(key="presentation").value is False
    assert at.multiselect[0].value == chosen


def test_every_slide_is_projector_sized_and_every_run_has_its_matrix(results_env, app):
    ids = [results_env.old_autoencoder, results_env.deep_svdd, results_env.autoencoder]
    ids.append(ensemble_runs.record(ids[:2], author="ann")[0])  # four runs: the meeting
    results_cache.clear_results_caches()
    for name in FLAGGED:
        comments.flag_image(Store.at(), results_env.dataset, name, "ann")
    comments.add_comment(Store.at(), results_env.dataset, "bob", "glare?", image_name=FLAGGED[0])
    at = app(PAGE, dataset=results_env.dataset, selected_runs={results_env.dataset: ids}, presentation=True)
    names = at.selectbox(key="review_section").options
    assert names == [
        "Leaderboard",
        "Which differences are real?",
        "ROC curves",
        "Thresholds",
        "AUROC per defect type",
        f"Example 1: {FLAGGED[0]}",
        f"Example 2: {FLAGGED[1]}",
        "Comments",
    ]
    for k, name in enumerate(names):
        assert at.selectbox(key="review_section").value == name
        assert not at.exception, name
        for spec in _specs(at):
            assert spec["layout"]["height"] <= presentation.SLIDE_PX, name
            assert _font(spec, "title", "font") >= presentation.FONT_PX, name
            for axis in ("xaxis", "yaxis"):
                if spec["layout"].get(axis, {}).get("visible", True):
                    assert _font(spec, axis, "tickfont") >= presentation.TICK_PX, name
        if name == "Thresholds":  # one matrix for each of the four runs, not the first three
            shown = [t for t in figures_on(at) if " at " in t]
            assert sorted(t.split(" at ")[0] for t in shown) == sorted(
                f"{db_runs.get_run(Store.at(), i).method} #{i}" for i in ids
            )
        if k + 1 < len(names):
            at = at.button(key="section_next").click().run()
    at = at.button(key="section_back").click().run()
    assert at.selectbox(key="review_section").value == names[-2]


def test_examples_show_maps_over_the_image_on_one_dark_to_bright_scale_per_run(results_env, app):
    for name in FLAGGED:
        comments.flag_image(Store.at(), results_env.dataset, name, "ann")
    scales: dict[str, list[tuple[float, float]]] = {}
    for k, name in enumerate(FLAGGED, 1):
        at = app(PAGE, dataset=results_env.dataset, presentation=True, review_section=f"Example {k}: {name}")
        assert not at.exception
        for spec in _specs(at)[1:]:  # after the input: a map per run (and deep_svdd's attention)
            image, heat = spec["data"]
            assert image["type"] == "image" and heat["type"] == "heatmap"  # the map over its picture
            assert 0 < heat["opacity"] < 1
            assert (
                heat["colorscale"][0][1] == "rgb(0, 0, 4)"
            )  # dark at the low end (not a Streamlit placeholder)
            run, what = spec["layout"]["title"]["text"].split(": ")
            if what != "attention":
                scales.setdefault(run, []).append((heat["zmin"], heat["zmax"]))
    for run_id in results_env.latest:
        label = f"{db_runs.get_run(Store.at(), run_id).method} #{run_id}"
        assert scales[label] == [pytest.approx(results_cache.map_range(run_id))] * 2  # the same in both


def test_a_link_with_the_deck_opens_on_its_first_slide(results_env):
    at = AppTest.from_file(str(PROJECT / "streamlit_app.py"), default_timeout=60)
    at.query_params["dataset"] = results_env.dataset
    at.run()
    at.switch_page(PAGE).run()
    assert not at.exception and "present" not in at.query_params
    at = at.toggle(key="presentation").set_value(True).run()
    assert at.query_params["present"] == "1" and not at.multiselect

    reloaded = AppTest.from_file(str(PROJECT / "streamlit_app.py"), default_timeout=60)
    for key, value in dict(at.query_params).items():
        reloaded.query_params[key] = value
    reloaded.run()
    reloaded.switch_page(PAGE).run()
    assert not reloaded.exception
    assert reloaded.selectbox(key="review_section").value == "Leaderboard" and not reloaded.multiselect


@pytest.mark.parametrize("pictures", range(1, 13))
def test_the_example_grid_keeps_every_picture_on_the_slide(pictures):
    per_row, height = review_slides.grid(pictures)
    rows = -(-pictures // per_row)
    assert rows * height + (rows - 1) * review_slides.GAP_PX <= review_slides.PICTURE_AREA_PX
    assert height - review_slides.TITLE_PX >= 100  # still a picture, not a thumbnail
