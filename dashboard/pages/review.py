"""Review (meeting mode): the leaderboard with the champion, ROC curves with the chosen thresholds, the examples
flagged on Inspect with the comments on each beside it, comment threads, a presentation of the chosen runs (a
full-screen slide deck, arrow keys turn the slides) and a self-contained HTML report for people who were not
there."""

from datetime import UTC, datetime

import streamlit as st

from dashboard import (
    champion_panel,
    comment_threads,
    evidence,
    leaderboard,
    results_cache,
    review_slides,
    review_view,
    selection,
)
from dashboard.cache import app_store
from dashboard.safe_text import literal
from db import comments

store = app_store()
dataset = selection.dataset_in_view()
if not dataset:
    st.stop()
user = st.session_state.get("user", "")
if st.session_state.get("presentation"):  # the deck shows the runs chosen below, on the page
    runs = selection.picked_runs(dataset)
    if runs:
        variant = runs[0].dataset  # the name the runs were recorded under, e.g. 'mnist:3'
        flags, notes = comments.list_flags(store, variant), comments.list_comments(store, variant)
        review_slides.show(variant, runs, flags, notes, user, champion_panel.current(variant))
        st.stop()
    st.session_state["presentation"] = False  # nothing to present: back to the page, which says why

title, toggle = st.columns([2, 1], vertical_alignment="bottom")
title.title("Review")
runs = selection.pick_runs(dataset)
toggle.toggle(
    "Presentation mode",
    key="presentation",
    disabled=not runs,
    help="The chosen runs as a full-screen slide deck for a projector (← → turn the slides); kept in the link",
)
if not runs:
    st.stop()
dataset = runs[0].dataset  # the variant the runs were recorded under, e.g. 'mnist:3'
flags = comments.list_flags(store, dataset)
notes = comments.list_comments(store, dataset)
champion = champion_panel.current(dataset)

st.subheader("Leaderboard")
masks = results_cache.mask_counts(runs)
board = leaderboard.leaderboard(runs, sort=True, masks=masks, champion=champion)
st.dataframe(
    evidence.styled(board, evidence.weak_cells(board, runs, masks)),
    hide_index=True,
    key="leaderboard",
    column_config={
        name: st.column_config.Column(help=tip) for name, tip in leaderboard.LEADERBOARD_HELP.items()
    },
)
st.caption(evidence.NOTE)
champion_panel.render(runs, key="review")
st.plotly_chart(review_view.roc_with_thresholds(runs), key="review_roc")

st.subheader("Chosen examples")
if not flags:
    st.caption("No images flagged yet: use “Flag for review” on the Inspect page.")
for flag in flags:
    shown, beside = st.columns([3, 2])
    with shown:
        if review_view.show_example(review_view.example(flag, runs, typed=literal), key=f"unflag_{flag.id}"):
            comments.unflag_image(store, dataset, flag.image_name)
            st.rerun()
    with beside:
        on_image = review_view.image_comments(notes, flag.image_name)
        comment_threads.show_threads(on_image, runs, dataset, user, empty="No comments on this image yet.")
        comment_threads.comment_popover(dataset, user, f"comment_on_{flag.id}", flag.image_name)

st.subheader("Comments")
flagged = {flag.image_name for flag in flags}
comment_threads.show_threads([c for c in notes if c.image_name not in flagged], runs, dataset, user)
targets: dict[str, tuple[int | None, str | None]] = {comment_threads.MEETING: (None, None)}
targets |= {f"run {run.label}": (run.id, None) for run in runs}
targets |= {f"image {flag.image_name}": (None, flag.image_name) for flag in flags}
if (current := st.session_state.get("inspect_image")) and f"image {current}" not in targets:
    targets[f"image {current} (open on Inspect)"] = (None, current)
if st.session_state.get("comment_about") not in targets:
    st.session_state.pop("comment_about", None)  # e.g. an image unflagged since
with st.form("comment", clear_on_submit=True):
    about = st.selectbox(
        "About",
        list(targets),
        key="comment_about",
        help="The whole meeting unless you pick a run or an image; each comment shows what it is on",
    )
    text = st.text_area("Comment", key="comment_text", max_chars=comments.MAX_COMMENT_CHARS)
    if st.form_submit_button("Add comment", icon=":material/add_comment:"):
        run_id, image_name = targets[about]
        try:
            comments.add_comment(store, dataset, user, text, run_id=run_id, image_name=image_name)
        except ValueError as exc:
            st.error(literal(exc))
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
    help="One file with the leaderboard, the champion, test sets, run notes, figures, thresholds, t-SNE maps "
    "opened so far, the examples and the comments; opens offline",
)
