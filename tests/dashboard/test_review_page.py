import re

import pytest
from streamlit.testing.v1.element_tree import Column

from dashboard import results_cache, review_view
from dashboard.run_info import run_info
from dashboard.thresholds import default_threshold, threshold_text
from db import comments
from db import runs as db_runs
from db.store import Store
from tests.dashboard.plotly_spec import array, figures_on

pytestmark = pytest.mark.slow  # AppTest runs of the whole Review page over trained runs

PAGE = "dashboard/pages/review.py"
FLAGGED = "test/square/001.png"
ADD = "FormSubmitter:comment-Add comment"  # the form at the foot of the page


def test_leaderboard_roc_examples_and_comments(results_env, app):
    svdd, auto = results_env.deep_svdd, results_env.autoencoder
    comments.flag_image(Store.at(), results_env.dataset, FLAGGED, "ann", run_id=svdd, note="clear miss")
    comments.add_comment(Store.at(), results_env.dataset, "bob", "why <b>so</b> sure?", run_id=auto)
    at = app(PAGE, dataset=results_env.dataset)
    assert not at.exception

    board = at.dataframe[0].value
    aurocs = {r: db_runs.get_run(Store.at(), r).image_auroc for r in results_env.latest}
    ordered = sorted(results_env.latest, key=lambda r: -aurocs[r])
    assert list(board["run"]) == [f"{db_runs.get_run(Store.at(), r).method} #{r}" for r in ordered]
    assert list(board["image AUROC"]) == pytest.approx([aurocs[r] for r in ordered])
    roc = figures_on(at)["ROC curves (image level)"]
    curves = [t for t in roc["data"] if t["mode"] == "lines"]
    assert {t["name"].split(" (")[0] for t in curves} == {
        "chance",
        f"autoencoder #{auto}",
        f"deep_svdd #{svdd}",
    }

    heading = next(m.value for m in at.markdown if m.value.startswith(f"**{FLAGGED}**"))
    assert "anomalous (square)" in heading and "flagged by ann" in heading and "clear miss" in heading
    captions = [c for image in at.image for c in image.captions]
    assert captions[0] == "input"
    for run_id in results_env.latest:
        norm = next(
            r.score_normalized for r in db_runs.get_predictions(Store.at(), run_id) if r.image_name == FLAGGED
        )
        assert f"{db_runs.get_run(Store.at(), run_id).method} #{run_id}: {norm:.3f}" in captions

    assert any(
        m.value.startswith("**bob**") and m.value.endswith(f"on **autoencoder #{auto}**") for m in at.markdown
    )
    assert not any("edited" in m.value for m in at.markdown)
    assert [t.value for t in at.text] == ["why <b>so</b> sure?"]  # shown verbatim, not as HTML
    assert at.get("download_button")[0].label == "Download the HTML report"


def test_adding_a_comment_records_author_target_and_time(results_env, app):
    at = app(PAGE, dataset=results_env.dataset)
    about = f"run deep_svdd #{results_env.deep_svdd}"
    at.selectbox(key="comment_about").set_value(about)
    at.text_area(key="comment_text").input("fewer false positives than last week")
    at = at.button(key=ADD).click().run()
    assert not at.exception
    [row] = comments.list_comments(Store.at(), results_env.dataset)
    assert (row.author, row.run_id, row.image_name, row.text) == (
        "tester",
        results_env.deep_svdd,
        None,
        "fewer false positives than last week",
    )
    shown = [m.value for m in at.markdown if m.value.startswith("**tester**")]
    assert len(shown) == 1 and re.search(
        r"\d{4}-\d\d-\d\d \d\d:\d\d UTC · on \*\*deep_svdd #\d+\*\*$", shown[0]
    )


def test_comment_on_a_flagged_image_and_refused_empty_comment(results_env, app):
    comments.flag_image(Store.at(), results_env.dataset, FLAGGED, "ann")
    at = app(PAGE, dataset=results_env.dataset)
    at.selectbox(key="comment_about").set_value(f"image {FLAGGED}")
    at = at.button(key=ADD).click().run()  # empty text
    assert not at.exception
    assert at.error[0].value == "comment text is empty"
    assert comments.list_comments(Store.at(), results_env.dataset) == []

    at.selectbox(key="comment_about").set_value(f"image {FLAGGED}")
    at.text_area(key="comment_text").input("glare, not a defect?")
    at = at.button(key=ADD).click().run()
    [row] = comments.list_comments(Store.at(), results_env.dataset)
    assert (row.image_name, row.run_id) == (FLAGGED, None)


def test_unflag_removes_the_example(results_env, app):
    flag_id = comments.flag_image(Store.at(), results_env.dataset, FLAGGED, "ann")
    at = app(PAGE, dataset=results_env.dataset)
    at = at.button(key=f"unflag_{flag_id}").click().run()
    assert not at.exception
    assert comments.list_flags(Store.at(), results_env.dataset) == []
    assert not any(m.value.startswith(f"**{FLAGGED}**") for m in at.markdown)


def test_report_of_the_page_holds_runs_examples_and_comments(results_env):
    comments.flag_image(Store.at(), results_env.dataset, FLAGGED, "ann", note="clear miss")
    comments.add_comment(
        Store.at(), results_env.dataset, "bob", "<script>alert(1)</script>", image_name=FLAGGED
    )
    runs = [run_info(db_runs.get_run(Store.at(), r)) for r in results_env.latest]
    page = review_view.report_html(results_env.dataset, runs, "tester")
    assert f"autoencoder #{results_env.autoencoder}" in page and f"deep_svdd #{results_env.deep_svdd}" in page
    assert (
        len(re.findall(r'<img alt="[^"]*" src="data:image/png;base64,', page)) == 3
    )  # input + a map per run
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>alert(1)" not in page
    assert "clear miss" in page and "generated" in page and "by tester" in page
    lead = page.split("<h2>Which differences are real?</h2>")[1].split("<h2>")[0]
    assert lead.count("<tr") == 3 and "best" in lead  # a header and a row per run


def test_the_report_has_the_thresholds_sizes_and_the_maps_computed_so_far(results_env):
    auto, svdd = results_env.autoencoder, results_env.deep_svdd
    comments.flag_image(Store.at(), results_env.dataset, FLAGGED, "ann")
    first = comments.add_comment(Store.at(), results_env.dataset, "bob", "glare?", image_name=FLAGGED)
    comments.add_comment(Store.at(), results_env.dataset, "ann", "no, a square", parent_id=first)
    comments.add_comment(Store.at(), results_env.dataset, "bob", "on the run", run_id=auto)
    runs = [run_info(db_runs.get_run(Store.at(), r)) for r in results_env.latest]
    results_cache.embedding_map(svdd)  # the Embeddings page mapped deep_svdd only
    page = review_view.report_html(results_env.dataset, runs, "tester")

    maps = page[page.index("<h2>t-SNE maps") : page.index("<h2>Chosen examples")]
    assert maps.count("Plotly.newPlot") == 1 and f"deep_svdd #{svdd} (t-SNE)" in maps
    assert f"Not computed for autoencoder #{auto}" in maps
    for run in runs:
        table = results_cache.score_table(run.id)
        assert f"{run.label} at {threshold_text(default_threshold(run))}" in page  # none chosen: best F1
        assert f"<td>{run.label}</td><td>{len(table.names)}</td><td>good 6, spot 4, square 4</td>" in page
    example = page[page.index("<h2>Chosen examples") : page.index("<h2>Comments")]
    assert "glare?" in example and "no, a square" in example and "on the run" not in example
    assert "on the run" in page[page.index("<h2>Comments") :]


def _row_of(at, first) -> list:
    """The columns of the row whose first column satisfies `first` (columns side by side on the page)."""

    def blocks(node):
        for child in getattr(node, "children", {}).values():
            yield child
            yield from blocks(child)

    for block in blocks(at.main):
        columns = [c for c in getattr(block, "children", {}).values() if isinstance(c, Column)]
        if len(columns) > 1 and first(columns[0]):
            return columns
    raise AssertionError("no such row of columns on the page")


def _on_step_curve(x: float, y: float, fpr: list[float], tpr: list[float]) -> bool:
    """Whether (x, y) lies on the staircase Plotly draws through the ROC points (line shape 'hv')."""
    eps = 1e-9
    for (x0, y0), (x1, y1) in zip(
        zip(fpr, tpr, strict=True), zip(fpr[1:], tpr[1:], strict=True), strict=False
    ):
        if abs(y - y0) < eps and x0 - eps <= x <= x1 + eps:
            return True
        if abs(x - x1) < eps and y0 - eps <= y <= y1 + eps:
            return True
    return False


def test_each_runs_chosen_threshold_is_marked_on_its_curve(results_env, app):
    auto, svdd = results_env.autoencoder, results_env.deep_svdd
    at = app(PAGE, dataset=results_env.dataset, thresholds={auto: 0.3})  # as chosen on Compare
    assert not at.exception
    roc = figures_on(at)["ROC curves (image level)"]
    markers = {t["name"]: t for t in roc["data"] if t["mode"] == "markers"}
    svdd_run = run_info(db_runs.get_run(Store.at(), svdd))
    chosen = {auto: 0.3, svdd: default_threshold(svdd_run)}  # the other one: its best-F1 threshold
    assert set(markers) == {
        f"{db_runs.get_run(Store.at(), r).method} #{r} at {threshold_text(t)}" for r, t in chosen.items()
    }
    for run_id, threshold in chosen.items():
        rows = db_runs.get_predictions(Store.at(), run_id)
        called = [r.score_normalized >= threshold for r in rows]
        anomalous = [r.label == 1 for r in rows]
        tpr = sum(c and a for c, a in zip(called, anomalous, strict=True)) / sum(anomalous)
        fpr = sum(c and not a for c, a in zip(called, anomalous, strict=True)) / (len(rows) - sum(anomalous))
        marker = markers[
            f"{db_runs.get_run(Store.at(), run_id).method} #{run_id} at {threshold_text(threshold)}"
        ]
        assert (array(marker["x"])[0], array(marker["y"])[0]) == pytest.approx((fpr, tpr))
        run = run_info(db_runs.get_run(Store.at(), run_id))
        assert _on_step_curve(fpr, tpr, list(run.roc_fpr), list(run.roc_tpr))


def test_comments_on_an_image_show_beside_its_pictures_and_can_be_answered(results_env, app):
    comments.flag_image(Store.at(), results_env.dataset, FLAGGED, "ann")
    first = comments.add_comment(
        Store.at(), results_env.dataset, "bob", "glare, not a defect?", image_name=FLAGGED
    )
    comments.add_comment(
        Store.at(), results_env.dataset, "bob", "about the run", run_id=results_env.deep_svdd
    )
    at = app(PAGE, dataset=results_env.dataset)
    assert not at.exception
    pictures, beside = _row_of(at, lambda c: any(m.value.startswith(f"**{FLAGGED}**") for m in c.markdown))
    assert pictures.image and not pictures.text  # the example's pictures, and on their right ...
    assert [t.value for t in beside.text] == ["glare, not a defect?"]  # ... only the image's comment

    at.text_area(key=f"reply_text_{first}").input("no: the mask shows a square")
    at = at.button(key=f"FormSubmitter:reply_{first}-Post reply").click().run()
    assert not at.exception
    rows = comments.list_comments(Store.at(), results_env.dataset, image_name=FLAGGED)
    assert [(r.author, r.text, r.parent_id) for r in rows] == [
        ("bob", "glare, not a defect?", None),
        ("tester", "no: the mask shows a square", first),
    ]
    thread = next(m for m in at.chat_message if "glare, not a defect?" in [t.value for t in m.text])
    assert [t.value for t in thread.text] == ["glare, not a defect?", "no: the mask shows a square"]
    assert any(
        m.value.startswith("**tester**") and m.value.endswith("answering bob") for m in thread.markdown
    )
    reply = rows[1].id
    assert {f"reply_text_{reply}", f"edit_text_{reply}"} <= {w.key for w in thread.text_area}  # tester's own
    assert f"edit_text_{first}" not in {w.key for w in at.text_area}  # bob's comment: tester cannot edit it


def test_the_author_edits_a_comment_and_others_cannot(results_env, app):
    mine = comments.add_comment(
        Store.at(), results_env.dataset, "tester", "AUROC looks high", run_id=results_env.autoencoder
    )
    theirs = comments.add_comment(
        Store.at(), results_env.dataset, "bob", "agreed", run_id=results_env.autoencoder
    )
    at = app(PAGE, dataset=results_env.dataset)
    assert not at.exception
    keys = {w.key for w in at.text_area}
    assert f"edit_text_{mine}" in keys and f"edit_text_{theirs}" not in keys
    at.text_area(key=f"edit_text_{mine}").input("AUROC looks high for 10 images")
    at = at.button(key=f"FormSubmitter:edit_{mine}-Save").click().run()
    assert not at.exception
    row = next(r for r in comments.list_comments(Store.at(), results_env.dataset) if r.id == mine)
    assert row.text == "AUROC looks high for 10 images" and row.edited_at is not None
    heading = next(m.value for m in at.markdown if m.value.startswith("**tester**"))
    assert heading.endswith(f" · edited {row.edited_at:%Y-%m-%d %H:%M} UTC")
    assert "AUROC looks high for 10 images" in [t.value for t in at.text]


def test_a_comment_is_on_the_whole_meeting_unless_a_run_or_image_is_chosen(results_env, app):
    comments.flag_image(Store.at(), results_env.dataset, FLAGGED, "ann")
    at = app(PAGE, dataset=results_env.dataset)
    about = at.selectbox(key="comment_about")
    assert about.value == "the whole meeting" and about.options[0] == "the whole meeting"
    assert (
        f"run autoencoder #{results_env.autoencoder}" in about.options and f"image {FLAGGED}" in about.options
    )
    at.text_area(key="comment_text").input("padim is best")
    at = at.button(key=ADD).click().run()
    assert not at.exception
    [row] = comments.list_comments(Store.at(), results_env.dataset)
    assert (row.run_id, row.image_name, row.text) == (None, None, "padim is best")
    [heading] = [m.value for m in at.markdown if m.value.startswith("**tester**")]
    assert heading.endswith("· on **the whole meeting**")  # what it is on, in bold
