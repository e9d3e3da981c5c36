"""The Review page's presentation: a slide deck of the runs chosen on the page (leaderboard, which differences
are real, ROC with the chosen thresholds, thresholds, AUROC per defect type, one slide per chosen example,
comments), turned with Previous / Next or the arrow keys, each slide sized to fit the screen."""

from __future__ import annotations

import math
from collections.abc import Sequence

import streamlit as st

from dashboard import (
    comment_threads,
    evidence,
    figures,
    leaderboard,
    presentation,
    results_cache,
    review_view,
    significance,
)
from dashboard.run_info import RunInfo
from dashboard.safe_text import literal, literal_table
from db.comments import CommentRow, FlagRow

SECTION = "review_section"
BOARD_COLUMNS = [
    "run",
    "champion",
    "n",
    "image AUROC",
    "AP",
    "best F1",
    "pixel AUROC",
    "PRO",
    "masks",
    "fit s",
]
BOARD_ROWS = 9  # runs per leaderboard slide: rows of 1.25rem text with the note under them fill 600 px
MATRICES = 8  # confusion matrices per thresholds slide: two rows of four
# The example slide at 1280 px: the pictures take two thirds of the width (about 820 px), the comments the rest.
PICTURES_PX = 820
PICTURE_AREA_PX = presentation.SLIDE_PX - 50  # under the example's heading line
COLOUR_BAR_PX = 75  # a map's colour bar with its ticks, right of the map
TITLE_PX = 34  # a picture's title above it
GAP_PX = 16  # between Streamlit elements


def _chunks(items: Sequence, size: int) -> list[Sequence]:
    return [items[i : i + size] for i in range(0, len(items), size)] or [items]


def _numbered(name: str, parts: int) -> list[str]:
    return [name] if parts == 1 else [f"{name} ({k}/{parts})" for k in range(1, parts + 1)]


def _examples(flags: Sequence[FlagRow]) -> dict[str, FlagRow]:
    return {f"Example {k}: {flag.image_name}": flag for k, flag in enumerate(flags, 1)}


def _plan(runs: Sequence[RunInfo], flags: Sequence[FlagRow], lead: bool) -> dict[str, tuple[str, object]]:
    """Slide name -> (what it shows, for which runs or example)."""
    ranked = sorted(runs, key=lambda r: -(r.image_auroc if r.image_auroc is not None else -1.0))
    boards, matrices = _chunks(ranked, BOARD_ROWS), _chunks(runs, MATRICES)
    plan: dict[str, tuple[str, object]] = dict(
        zip(_numbered("Leaderboard", len(boards)), (("board", b) for b in boards), strict=True)
    )
    if lead:
        plan["Which differences are real?"] = ("lead", None)
    plan["ROC curves"] = ("roc", None)
    plan |= dict(
        zip(_numbered("Thresholds", len(matrices)), (("thresholds", m) for m in matrices), strict=True)
    )
    if any(run.auroc_per_defect_type for run in runs):
        plan["AUROC per defect type"] = ("defects", None)
    plan |= {name: ("example", flag) for name, flag in _examples(flags).items()}
    plan["Comments"] = ("comments", None)
    return plan


def grid(pictures: int) -> tuple[int, int]:
    """(pictures per row, figure height in px) that shows `pictures` maps largest in the example slide's
    picture area, each with its title and colour bar."""
    best = (1, 0, 0.0)
    for per_row in range(1, 7):
        rows = math.ceil(pictures / per_row)
        height = (PICTURE_AREA_PX - GAP_PX * (rows - 1)) // rows
        side = min(PICTURES_PX / per_row - COLOUR_BAR_PX, height - TITLE_PX)
        if side > best[2]:
            best = (per_row, height, side)
    return best[0], best[1]


def _step(names: list[str], by: int) -> None:
    current = st.session_state.get(SECTION, names[0])
    i = names.index(current) if current in names else 0
    st.session_state[SECTION] = names[min(max(i + by, 0), len(names) - 1)]


def _leave() -> None:
    st.session_state["presentation"] = False


def _navigation(names: list[str]) -> str:
    """The bar on top: Previous, the slide picker, Next, where we are, and the way out."""
    if st.session_state.get(SECTION) not in names:
        st.session_state[SECTION] = names[0]
    back, choice, forward, where, leave = st.columns([1.3, 5, 1.1, 0.7, 1.1], vertical_alignment="center")
    back.button(
        "Previous", key="section_back", on_click=_step, args=(names, -1), icon=":material/arrow_back:"
    )
    forward.button(
        "Next", key="section_next", on_click=_step, args=(names, 1), icon=":material/arrow_forward:"
    )
    leave.button(
        "Exit", key="present_exit", on_click=_leave, icon=":material/close:", help="Back to the page"
    )
    section = choice.selectbox("Section", names, key=SECTION, label_visibility="collapsed")
    where.markdown(f"{names.index(section) + 1} / {len(names)}", help="← → or Page Up / Down turn the slides")
    return section


def _leaderboard(runs: Sequence[RunInfo], champion: int | None) -> None:
    masks = results_cache.mask_counts(list(runs))
    board = leaderboard.leaderboard(runs, sort=True, masks=masks, champion=champion)
    board = board[[c for c in BOARD_COLUMNS if c in board.columns]]
    weak = evidence.weak_cells(board, runs, masks)
    shown = literal_table(board)  # st.table reads Markdown
    weak.columns = shown.columns
    st.table(evidence.styled(shown, weak).hide(axis="index"))
    st.caption(evidence.NOTE)


def _lead(lead) -> None:
    st.table(literal_table(lead).style.format({"image AUROC": "{:.3f}"}).hide(axis="index"))
    st.caption(significance.HELP)


def _thresholds(runs: Sequence[RunInfo]) -> None:
    by_run = review_view.confusions(runs)
    rows = _chunks(runs, 4) if len(runs) > 4 else [runs]
    height = 430 if len(rows) == 1 else 220
    for row in rows:
        for column, run in zip(st.columns(4 if len(runs) > 4 else max(len(runs), 2)), row, strict=False):
            confusion = by_run[run.id]
            fig = presentation.confusion_figure(figures.confusion_figure(confusion, run.label), height)
            column.plotly_chart(fig, key=f"present_confusion_{run.id}")
            column.markdown(presentation.confusion_line(confusion))


def _example(flag: FlagRow, runs: Sequence[RunInfo], notes: Sequence[CommentRow], dataset: str, user: str):
    image = review_view.flagged_image(flag.image_name, runs)
    st.markdown(f"**{literal(flag.image_name)}** · {literal(image.truth)} · numbers are normalised scores")
    shown: list[tuple[str, object]] = []
    if image.picture is not None:
        shown.append(("input", None))
    for view in image.views:
        shown.append(
            (f"{view.run.label}: {view.score:.3f}", (view.views.anomaly_map, view.lo, view.hi, "error"))
        )
        if view.views.attention is not None:
            lo, hi = results_cache.map_range(view.run.id, "attentions")  # one scale for the run's images
            shown.append((f"{view.run.label}: attention", (view.views.attention, lo, hi, "attention")))
    per_row, height = grid(len(shown))
    pictures, side = st.columns([2, 1], gap="medium")
    with pictures:
        for start in range(0, len(shown), per_row):
            row = zip(st.columns(per_row), shown[start : start + per_row], strict=False)
            for k, (column, (title, drawn)) in enumerate(row, start):
                if drawn is None:
                    fig = presentation.picture_figure(image.picture, title, height)
                else:
                    fig = presentation.map_figure(image.picture, *drawn[:3], title, drawn[3], height)
                column.plotly_chart(fig, key=f"present_picture_{flag.id}_{k}")
    with side:
        st.markdown("**Comments on this image**")
        with st.container(height=PICTURE_AREA_PX - 110, border=False, autoscroll=False):
            st.caption(" ".join([review_view.flagged_by(flag, literal), *image.unreadable]))
            comment_threads.show_threads(notes, runs, dataset, user, empty="No comments on this image yet.")
        comment_threads.comment_popover(dataset, user, f"present_comment_{flag.id}", flag.image_name)


def _comments(notes: Sequence[CommentRow], flags: Sequence[FlagRow], runs, dataset: str, user: str) -> None:
    flagged = {flag.image_name for flag in flags}
    with st.container(height=presentation.SLIDE_PX - 70, border=False, autoscroll=False):
        comment_threads.show_threads([c for c in notes if c.image_name not in flagged], runs, dataset, user)
    comment_threads.comment_popover(dataset, user, "present_comment_meeting")


def show(
    dataset: str,
    runs: Sequence[RunInfo],
    flags: Sequence[FlagRow],
    notes: Sequence[CommentRow],
    user: str,
    champion: int | None = None,
) -> None:
    """Draw the chosen slide, full screen (no sidebar, no app header), with the arrow keys turning slides."""
    st.html(presentation.STYLE + presentation.KEYS, unsafe_allow_javascript=True)
    lead = results_cache.lead_table(list(runs))
    plan = _plan(runs, flags, lead is not None)
    kind, part = plan[_navigation(list(plan))]
    if kind == "board":
        _leaderboard(part, champion)
    elif kind == "lead":
        _lead(lead)
    elif kind == "roc":
        fig = presentation.presentation_style(review_view.roc_with_thresholds(runs), presentation.FIGURE_PX)
        st.plotly_chart(fig, key="present_roc")
    elif kind == "thresholds":
        _thresholds(part)
    elif kind == "defects":
        fig = presentation.presentation_style(figures.defect_auroc_figure(runs), presentation.FIGURE_PX)
        st.plotly_chart(fig, key="present_defect_auroc")
    elif kind == "comments":
        _comments(notes, flags, runs, dataset, user)
    else:
        _example(part, runs, review_view.image_comments(notes, part.image_name), dataset, user)
