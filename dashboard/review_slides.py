"""Presentation mode of the Review page: one section per screen (leaderboard, ROC with the chosen thresholds,
thresholds, AUROC per defect type, one screen per chosen example, comments), projector-sized figures, zoomable
pictures with colour bars."""

from __future__ import annotations

from collections.abc import Sequence

import streamlit as st

from dashboard import (
    comment_threads,
    figures,
    presentation,
    results,
    results_cache,
    review_view,
    significance,
)
from dashboard.results import RunInfo
from dashboard.safe_text import literal, literal_table
from db.comments import CommentRow, FlagRow

SECTION = "review_section"
BOARD_COLUMNS = ["run", "n", "image AUROC", "AP", "best F1", "pixel AUROC", "PRO", "fit s", "test images"]
PICTURES_PER_ROW = 3  # at 1280 px beside the comments: about 200 px each, 280 with the sidebar closed


def sections(runs: Sequence[RunInfo], flags: Sequence[FlagRow]) -> list[str]:
    """The screens, in order."""
    names = ["Leaderboard", "ROC curves", "Thresholds"]
    if any(run.auroc_per_defect_type for run in runs):
        names.append("AUROC per defect type")
    names += list(_examples(flags))
    return [*names, "Comments"]


def _examples(flags: Sequence[FlagRow]) -> dict[str, FlagRow]:
    return {f"Example {k}: {flag.image_name}": flag for k, flag in enumerate(flags, 1)}


def _step(names: list[str], by: int) -> None:
    current = st.session_state.get(SECTION, names[0])
    i = names.index(current) if current in names else 0
    st.session_state[SECTION] = names[min(max(i + by, 0), len(names) - 1)]


def _navigation(names: list[str]) -> str:
    if st.session_state.get(SECTION) not in names:
        st.session_state[SECTION] = names[0]
    back, choice, forward = st.columns([1.4, 5, 1.2], vertical_alignment="bottom")
    back.button(
        "Previous", key="section_back", on_click=_step, args=(names, -1), icon=":material/arrow_back:"
    )
    forward.button(
        "Next", key="section_next", on_click=_step, args=(names, 1), icon=":material/arrow_forward:"
    )
    return choice.selectbox("Section", names, key=SECTION, label_visibility="collapsed")


def _leaderboard(runs: Sequence[RunInfo]) -> None:
    board = literal_table(results.leaderboard(runs, sort=True)[BOARD_COLUMNS])  # st.table reads Markdown
    digits = {c: d for c, d in results.LEADERBOARD_DIGITS.items() if c in BOARD_COLUMNS}
    st.table(board.style.format({c: f"{{:.{d}f}}" for c, d in digits.items()}, na_rep="–").hide(axis="index"))
    lead = results_cache.lead_table(list(runs))
    if lead is not None:
        st.markdown("**Which differences are real?**", help=significance.HELP)
        st.table(literal_table(lead).style.format({"image AUROC": "{:.3f}"}).hide(axis="index"))


def _thresholds(runs: Sequence[RunInfo]) -> None:
    by_run = review_view.confusions(runs)
    for column, run in zip(st.columns(min(len(runs), 3)), runs, strict=False):
        confusion = by_run[run.id]
        fig = presentation.presentation_style(figures.confusion_figure(confusion, run.label), height=330)
        column.plotly_chart(fig, key=f"present_confusion_{run.id}")
        column.markdown(
            f"precision **{results.fmt(confusion.precision, 2)}** · recall **{results.fmt(confusion.recall, 2)}**"
        )
    if len(runs) > 3:
        st.caption(f"The first 3 of {len(runs)} runs; the others are on the Compare page.")


def _example(flag: FlagRow, runs: Sequence[RunInfo], notes: Sequence[CommentRow], dataset: str, user: str):
    image = review_view.flagged_image(flag.image_name, runs)
    st.markdown(f"### {literal(flag.image_name)}\n{review_view.caption(image, flag, literal)}")
    shown = [presentation.picture_figure(image.picture, "input")] if image.picture is not None else []
    for view in image.views:
        title = f"{view.run.label}: {view.score:.2f}"
        shown.append(presentation.map_figure(view.views.anomaly_map, view.lo, view.hi, title, "error"))
        if view.views.attention is not None:
            lo, hi = results_cache.map_range(view.run.id, "attentions")  # one scale for the run's images
            title = f"{view.run.label}: attention"
            shown.append(presentation.map_figure(view.views.attention, lo, hi, title, "attention"))
    pictures, side = st.columns([3, 1])
    with pictures:
        per_row = min(PICTURES_PER_ROW, max(1, len(shown)))
        for start in range(0, len(shown), per_row):
            for k, (column, fig) in enumerate(
                zip(st.columns(per_row), shown[start : start + per_row], strict=False), start
            ):
                column.plotly_chart(fig, key=f"present_picture_{flag.id}_{k}")
        st.caption("Drag a box on a picture to zoom in, double-click to zoom out.")
    with side:
        st.markdown("**Comments on this image**")
        comment_threads.show_threads(notes, runs, dataset, user, empty="None yet.")
        comment_threads.comment_on_image(dataset, user, flag.image_name, key=f"present_comment_{flag.id}")


def show(
    dataset: str, runs: Sequence[RunInfo], flags: Sequence[FlagRow], notes: Sequence[CommentRow], user: str
) -> None:
    """Draw the chosen section of the review, one screen at a time."""
    st.html(presentation.CSS)
    names = sections(runs, flags)
    section = _navigation(names)
    if section == "Leaderboard":
        _leaderboard(runs)
    elif section == "ROC curves":
        fig = presentation.presentation_style(review_view.roc_with_thresholds(runs), presentation.ROC_HEIGHT)
        st.plotly_chart(fig, key="present_roc")
    elif section == "Thresholds":
        _thresholds(runs)
    elif section == "AUROC per defect type":
        fig = presentation.presentation_style(figures.defect_auroc_figure(runs), presentation.ROC_HEIGHT)
        st.plotly_chart(fig, key="present_defect_auroc")
    elif section == "Comments":
        flagged = {flag.image_name for flag in flags}
        comment_threads.show_threads([c for c in notes if c.image_name not in flagged], runs, dataset, user)
    else:
        flag = _examples(flags)[section]
        _example(flag, runs, review_view.image_comments(notes, flag.image_name), dataset, user)
