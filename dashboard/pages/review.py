"""Review (meeting mode): the leaderboard, ROC curves, the examples flagged on Inspect, comments with author
and time, and a self-contained HTML report for people who were not there."""

from datetime import UTC, datetime

import streamlit as st

from dashboard import figures, results, review_view, selection
from db import comments

st.title("Review")
dataset = selection.dataset_in_view()
if not dataset:
    st.stop()
runs = selection.pick_runs(dataset)
if not runs:
    st.stop()
dataset = runs[0].dataset  # the variant the runs were recorded under, e.g. 'mnist:3'
user = st.session_state.get("user", "")

st.subheader("Leaderboard")
st.dataframe(
    results.leaderboard(runs, sort=True),
    hide_index=True,
    key="leaderboard",
    column_config={
        name: st.column_config.NumberColumn(format=f"%.{digits}f")
        for name, digits in results.LEADERBOARD_DIGITS.items()
    },
)
st.plotly_chart(figures.roc_figure(runs), key="review_roc")

st.subheader("Chosen examples")
flags = comments.list_flags(dataset)
if not flags:
    st.caption("No images flagged yet: use “Flag for review” on the Inspect page.")
for flag in flags:
    if review_view.show_example(review_view.example(flag, runs), key=f"unflag_{flag.id}"):
        comments.unflag_image(dataset, flag.image_name)
        st.rerun()

st.subheader("Comments")
review_view.show_comments(comments.list_comments(dataset), runs)
targets: dict[str, tuple[int | None, str | None]] = {f"run {run.label}": (run.id, None) for run in runs}
targets |= {f"image {flag.image_name}": (None, flag.image_name) for flag in flags}
if (current := st.session_state.get("inspect_image")) and f"image {current}" not in targets:
    targets[f"image {current} (open on Inspect)"] = (None, current)
if st.session_state.get("comment_about") not in targets:
    st.session_state.pop("comment_about", None)  # e.g. an image unflagged since
with st.form("comment", clear_on_submit=True):
    about = st.selectbox("About", list(targets), key="comment_about")
    text = st.text_area("Comment", key="comment_text", max_chars=comments.MAX_COMMENT_CHARS)
    if st.form_submit_button("Add comment", icon=":material/add_comment:"):
        run_id, image_name = targets[about]
        try:
            comments.add_comment(dataset, user, text, run_id=run_id, image_name=image_name)
        except ValueError as exc:
            st.error(str(exc))
        else:
            st.rerun()

st.subheader("Report")
st.download_button(
    "Download the HTML report",
    data=lambda: review_view.report_html(dataset, runs, user),
    file_name=f"review-{dataset.replace(':', '-')}-{datetime.now(UTC):%Y%m%d-%H%M}.html",
    mime="text/html",
    icon=":material/download:",
    on_click="ignore",
    help="One file with the leaderboard, the figures, the examples and the comments; opens offline",
)
