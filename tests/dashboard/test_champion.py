"""Make champion (issue #26) on the Compare and Review pages: the real engine.registry registers the run in MLflow's
Model Registry with the alias `champion`; the Review page, its deck and the report then name it; a registration
that cannot be done says why in one sentence."""

from __future__ import annotations

import pytest
import streamlit as st

from dashboard import results_cache, review_view
from dashboard.run_info import run_info
from db import comments
from db import runs as db_runs
from db.store import Store
from engine import ensemble_runs
from engine.registry import champion, registered_name

pytestmark = pytest.mark.slow  # registers models in MLflow's registry through whole pages

COMPARE, REVIEW = "dashboard/pages/compare.py", "dashboard/pages/review.py"


def test_make_champion_on_compare_then_review_its_deck_and_the_report_name_it(results_env, app):
    svdd, auto = results_env.deep_svdd, results_env.autoencoder
    at = app(COMPARE, dataset=results_env.dataset)
    assert not at.exception and champion(results_env.dataset) is None
    assert "No champion on" in " ".join(c.value for c in at.caption)

    at = at.button(key=f"compare_champion_{svdd}").click().run()
    assert not at.exception
    assert champion(results_env.dataset) == svdd
    assert at.success[0].value == (
        f"deep_svdd #{svdd} is the champion now: version 1 of {registered_name(results_env.dataset)} in the "
        "model registry."
    )
    assert at.button(key=f"compare_champion_{svdd}").disabled  # already the champion
    assert not at.button(key=f"compare_champion_{auto}").disabled
    [note] = comments.list_comments(Store.at(), results_env.dataset, run_id=svdd)  # who and when, on the run
    assert note.author == "tester" and "alias champion" in note.text

    review = app(REVIEW, dataset=results_env.dataset)
    board = review.dataframe[0].value.set_index("run")
    assert board.loc[f"deep_svdd #{svdd}", "champion"] == "champion"
    assert board.loc[f"autoencoder #{auto}", "champion"] == ""
    assert f"**Champion:** deep_svdd #{svdd}" in " ".join(m.value for m in review.markdown)

    deck = app(REVIEW, dataset=results_env.dataset, presentation=True)
    deck_board = deck.table[0].value.set_index("run")
    assert deck_board.loc[f"deep_svdd #{svdd}", "champion"] == "champion"

    runs = [run_info(db_runs.get_run(Store.at(), r)) for r in results_env.latest]
    page = review_view.report_html(results_env.dataset, runs, "tester")
    assert f"Champion: <b>deep_svdd #{svdd}</b>" in page

    review = review.button(key=f"review_champion_{auto}").click().run()  # from the Review page too
    assert not review.exception and champion(results_env.dataset) == auto
    assert f"**Champion:** autoencoder #{auto}" in " ".join(m.value for m in review.markdown)


def test_a_registration_that_cannot_be_done_says_why_in_one_sentence(results_env, app):
    combined, _ = ensemble_runs.record([results_env.autoencoder, results_env.deep_svdd], author="ann")
    results_cache.clear_results_caches()
    st.cache_data.clear()
    at = app(COMPARE, dataset=results_env.dataset, selected_runs={results_env.dataset: [combined]})
    at = at.button(key=f"compare_champion_{combined}").click().run()
    assert not at.exception and not at.success
    [error] = at.error
    assert error.value == (
        f"ensemble #{combined} was not made champion: run {combined} is an ensemble of saved runs and has no "
        "model of its own; use one of its member runs."
    )
    assert champion(results_env.dataset) is None
