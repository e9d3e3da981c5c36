import re

import pytest

from dashboard import review_view
from dashboard.results import run_info
from db import comments, store
from tests.dashboard.plotly_spec import figures_on

PAGE = "dashboard/pages/review.py"
FLAGGED = "test/square/001.png"


def test_leaderboard_roc_examples_and_comments(results_env, app):
    svdd, auto = results_env.deep_svdd, results_env.autoencoder
    comments.flag_image(results_env.dataset, FLAGGED, "ann", run_id=svdd, note="clear miss")
    comments.add_comment(results_env.dataset, "bob", "why <b>so</b> sure?", run_id=auto)
    at = app(PAGE, dataset=results_env.dataset)
    assert not at.exception

    board = at.dataframe[0].value
    aurocs = {r: store.get_run(r).image_auroc for r in results_env.latest}
    ordered = sorted(results_env.latest, key=lambda r: -aurocs[r])
    assert list(board["run"]) == [f"{store.get_run(r).method} #{r}" for r in ordered]
    assert list(board["image AUROC"]) == pytest.approx([aurocs[r] for r in ordered])
    roc = figures_on(at)["ROC curves (image level)"]
    assert {t["name"].split(" (")[0] for t in roc["data"]} == {
        "chance",
        f"autoencoder #{auto}",
        f"deep_svdd #{svdd}",
    }

    heading = next(m.value for m in at.markdown if m.value.startswith(f"**{FLAGGED}**"))
    assert "anomalous (square)" in heading and "flagged by ann" in heading and "clear miss" in heading
    captions = [c for image in at.image for c in image.captions]
    assert captions[0] == "input"
    for run_id in results_env.latest:
        norm = next(r.score_normalized for r in store.get_predictions(run_id) if r.image_name == FLAGGED)
        assert f"{store.get_run(run_id).method} #{run_id}: {norm:.2f}" in captions

    assert any(
        m.value.startswith("**bob**") and m.value.endswith(f"on autoencoder #{auto}") for m in at.markdown
    )
    assert [t.value for t in at.text] == ["why <b>so</b> sure?"]  # shown verbatim, not as HTML
    assert at.get("download_button")[0].label == "Download the HTML report"


def test_adding_a_comment_records_author_target_and_time(results_env, app):
    at = app(PAGE, dataset=results_env.dataset)
    about = f"run deep_svdd #{results_env.deep_svdd}"
    at.selectbox(key="comment_about").set_value(about)
    at.text_area(key="comment_text").input("fewer false positives than last week")
    at = at.form_submit_button[0].click().run()
    assert not at.exception
    [row] = comments.list_comments(results_env.dataset)
    assert (row.author, row.run_id, row.image_name, row.text) == (
        "tester",
        results_env.deep_svdd,
        None,
        "fewer false positives than last week",
    )
    shown = [m.value for m in at.markdown if m.value.startswith("**tester**")]
    assert len(shown) == 1 and re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC · on deep_svdd #\d+$", shown[0])


def test_comment_on_a_flagged_image_and_refused_empty_comment(results_env, app):
    comments.flag_image(results_env.dataset, FLAGGED, "ann")
    at = app(PAGE, dataset=results_env.dataset)
    at.selectbox(key="comment_about").set_value(f"image {FLAGGED}")
    at = at.form_submit_button[0].click().run()  # empty text
    assert not at.exception
    assert at.error[0].value == "comment text is empty"
    assert comments.list_comments(results_env.dataset) == []

    at.selectbox(key="comment_about").set_value(f"image {FLAGGED}")
    at.text_area(key="comment_text").input("glare, not a defect?")
    at = at.form_submit_button[0].click().run()
    [row] = comments.list_comments(results_env.dataset)
    assert (row.image_name, row.run_id) == (FLAGGED, None)


def test_unflag_removes_the_example(results_env, app):
    flag_id = comments.flag_image(results_env.dataset, FLAGGED, "ann")
    at = app(PAGE, dataset=results_env.dataset)
    at = at.button(key=f"unflag_{flag_id}").click().run()
    assert not at.exception
    assert comments.list_flags(results_env.dataset) == []
    assert not any(m.value.startswith(f"**{FLAGGED}**") for m in at.markdown)


def test_report_of_the_page_holds_runs_examples_and_comments(results_env):
    comments.flag_image(results_env.dataset, FLAGGED, "ann", note="clear miss")
    comments.add_comment(results_env.dataset, "bob", "<script>alert(1)</script>", image_name=FLAGGED)
    runs = [run_info(store.get_run(r)) for r in results_env.latest]
    page = review_view.report_html(results_env.dataset, runs, "tester")
    assert f"autoencoder #{results_env.autoencoder}" in page and f"deep_svdd #{results_env.deep_svdd}" in page
    assert (
        len(re.findall(r'<img alt="[^"]*" src="data:image/png;base64,', page)) == 3
    )  # input + a map per run
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>alert(1)" not in page
    assert "clear miss" in page and "generated" in page and "by tester" in page
