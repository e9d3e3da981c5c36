"""One threshold, one count (dashboard.thresholds.confusion_at): Compare's matrix, the Review page's ROC marker,
the presentation's thresholds slide and the HTML report show the same confusion for a run at a threshold, even
one typed between two 0.001 steps, just under an image's score."""

from __future__ import annotations

import re

import numpy as np
import pytest
import streamlit as st

from dashboard import review_view
from dashboard.run_info import run_info
from db import runs as db_runs
from db.store import Store
from tests.dashboard.confusion_tables import confusion_tables
from tests.dashboard.plotly_spec import array, figures_on

pytestmark = pytest.mark.slow  # AppTest runs of four pages over trained runs

COMPARE, REVIEW = "dashboard/pages/compare.py", "dashboard/pages/review.py"


def _between_steps(run_id: int) -> float:
    """A threshold a hair under an image's normalised score, whose 3-decimal rounding lies above that score:
    a page counting at the value as typed and one counting at the value as shown disagree on that image."""
    for row in db_runs.get_predictions(Store.at(), run_id):
        if 0.55 < (row.score_normalized * 1000) % 1 < 0.95:
            return row.score_normalized - 1e-7
    raise AssertionError(f"no score of run {run_id} lies between two 0.001 steps as this test needs")


def _expected(run_id: int, threshold: float) -> list[list[int]]:
    rows = db_runs.get_predictions(Store.at(), run_id)
    labels = np.array([r.label for r in rows])
    called = np.array([r.score_normalized for r in rows]) >= round(threshold, 3)
    return [
        [int((~called & (labels == 0)).sum()), int((called & (labels == 0)).sum())],
        [int((~called & (labels == 1)).sum()), int((called & (labels == 1)).sum())],
    ]


def _matrix(at, label: str) -> tuple[str, list[list[int]]]:
    """The threshold and counts of `label`'s matrix: a table on Compare, a heatmap in the presentation."""
    mine = f"{label} at "
    found = {t: m for t, m in confusion_tables(at).items() if t.startswith(mine)}
    found |= {
        t: [[int(v) for v in row] for row in s["data"][0]["z"]]
        for t, s in figures_on(at).items()
        if t.startswith(mine)
    }
    [(title, matrix)] = found.items()
    return title.split(" at ")[1], matrix


def test_compare_review_presentation_and_report_count_the_same(results_env, app):
    run_id = results_env.deep_svdd
    run = run_info(db_runs.get_run(Store.at(), run_id))
    typed = _between_steps(run_id)
    expected = _expected(run_id, typed)
    session = {"dataset": results_env.dataset, "thresholds": {run_id: typed}}

    compare = app(COMPARE, **session)
    assert not compare.exception
    shown, matrix = _matrix(compare, run.label)
    assert compare.number_input(key=f"threshold_{run_id}").value == pytest.approx(round(typed, 3))
    assert (shown, matrix) == (f"{round(typed, 3):.3f}", expected)

    review = app(REVIEW, **session)
    roc = figures_on(review)["ROC curves (image level)"]
    [marker] = [t for t in roc["data"] if t["mode"] == "markers" and t["name"] == f"{run.label} at {shown}"]
    (tn, fp), (fn, tp) = expected
    assert (array(marker["x"])[0], array(marker["y"])[0]) == pytest.approx((fp / (tn + fp), tp / (tp + fn)))
    assert f"{fp} false positive(s), {fn} false negative(s)" in marker["hovertemplate"]

    deck = app(REVIEW, **session, presentation=True, review_section="Thresholds")
    assert _matrix(deck, run.label) == (shown, expected)

    st.session_state["thresholds"] = {run_id: typed}  # as the Review page holds it when the report is made
    try:
        page = review_view.report_html(results_env.dataset, [run], "tester")
    finally:
        del st.session_state["thresholds"]  # the bare-mode state outlives this test
    section = page[page.index(f"<h3>{run.label} at ") :]
    counts = re.search(
        r"TN (\d+)</td><td>FP (\d+)</td></tr><tr><th>anomalous</th><td>FN (\d+)</td><td>TP (\d+)", section
    )
    assert section.startswith(f"<h3>{run.label} at {shown}</h3>")
    assert [[int(counts[1]), int(counts[2])], [int(counts[3]), int(counts[4])]] == expected
