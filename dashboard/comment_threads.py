"""Comment threads on the Review page: each comment with its author, time and target, the answers under it,
a Reply form for everyone and an Edit form for its author ("edited" and the time shown after a change)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import streamlit as st

from dashboard import auth
from dashboard.cache import app_store
from dashboard.report import ReportComment
from dashboard.run_info import RunInfo
from dashboard.safe_text import literal
from db import comments
from db.comments import CommentRow

MEETING = "the whole meeting"  # what a comment on no run and no image is about


def target(row: CommentRow, runs: Sequence[RunInfo]) -> str:
    """What a comment is about, with the run's method where the run is known, e.g. 'vae #3, test/a.png'; a
    comment on no run and no image is on MEETING."""
    labels = {run.id: run.label for run in runs}
    parts = [labels.get(row.run_id, f"run #{row.run_id}")] if row.run_id is not None else []
    return ", ".join([*parts, *([row.image_name] if row.image_name else [])]) or MEETING


def thread_order(rows: Sequence[CommentRow]) -> list[tuple[CommentRow, int]]:
    """`rows` as threads: each comment followed by its answers (depth 1), theirs (depth 2)..., oldest first."""
    by_parent = comments.replies(rows)
    out: list[tuple[CommentRow, int]] = []

    def visit(row: CommentRow, depth: int) -> None:
        out.append((row, depth))
        for reply in by_parent.get(row.id, []):
            visit(reply, depth + 1)

    for row in by_parent.get(None, []):
        visit(row, 0)
    return out


def heading(row: CommentRow, runs: Sequence[RunInfo], answers: str | None = None) -> str:
    """'**ann** · 2026-12-02 10:00 UTC · on **vae #3**' (or '· answering bob'), with '· edited <time> UTC'
    (Markdown: names escaped; the target in bold, so what a comment is about stands out)."""
    about = f"answering {literal(answers)}" if answers else f"on **{literal(target(row, runs))}**"
    edited = f" · edited {row.edited_at:%Y-%m-%d %H:%M} UTC" if row.edited_at else ""
    return f"**{literal(row.author)}** · {row.created_at:%Y-%m-%d %H:%M} UTC · {about}{edited}"


def report_comments(rows: Sequence[CommentRow], runs: Sequence[RunInfo]) -> list[ReportComment]:
    """The comments of `rows` for the report, in thread order."""
    return [
        ReportComment(row.author, row.created_at, target(row, runs), row.text, depth, row.edited_at)
        for row, depth in thread_order(rows)
    ]


def _submit(action: Callable[[], object]) -> None:
    """Run a store change from a form; its refusal is shown in words, success redraws the page."""
    try:
        action()
    except (ValueError, KeyError) as exc:
        st.error(literal(str(exc).strip("'\"")))
    else:
        st.rerun()


def _actions(row: CommentRow, dataset: str, user: str) -> None:
    buttons = st.container(horizontal=True)  # side by side at their own width, however narrow the column
    with buttons.popover("Reply", icon=":material/reply:"), st.form(f"reply_{row.id}", clear_on_submit=True):
        text = st.text_area("Reply", key=f"reply_text_{row.id}", max_chars=comments.MAX_COMMENT_CHARS)
        if st.form_submit_button("Post reply"):
            _submit(lambda: comments.add_comment(app_store(), dataset, user, text, parent_id=row.id))
    if row.author == user.strip():
        with buttons.popover("Edit", icon=":material/edit:"), st.form(f"edit_{row.id}"):
            text = st.text_area(
                "Comment", value=row.text, key=f"edit_text_{row.id}", max_chars=comments.MAX_COMMENT_CHARS
            )
            if st.form_submit_button("Save") and auth.require("comment", author=row.author):
                _submit(lambda: comments.edit_comment(app_store(), row.id, user, text))


def show_threads(
    rows: Sequence[CommentRow],
    runs: Sequence[RunInfo],
    dataset: str,
    user: str,
    empty: str = "No comments yet.",
) -> None:
    """Threads oldest first, each answer inside the comment it answers; the text is shown verbatim."""
    by_parent = comments.replies(rows)
    if not by_parent.get(None):
        st.caption(empty)

    def show(row: CommentRow, answers: str | None) -> None:
        with st.chat_message("user", avatar=":material/person:"):
            st.markdown(heading(row, runs, answers))
            st.text(row.text)
            _actions(row, dataset, user)
            for reply in by_parent.get(row.id, []):
                show(reply, row.author)

    for row in by_parent.get(None, []):
        show(row, None)


def comment_popover(dataset: str, user: str, key: str, image_name: str | None = None) -> None:
    """A popover with a form that records a comment on `image_name` ('Comment on this image'), or on the
    whole meeting without one."""
    label = "Comment on this image" if image_name else "Comment on the meeting"
    with st.popover(label, icon=":material/add_comment:"), st.form(key, clear_on_submit=True):
        text = st.text_area("Comment", key=f"{key}_text", max_chars=comments.MAX_COMMENT_CHARS)
        if st.form_submit_button("Add comment"):
            _submit(lambda: comments.add_comment(app_store(), dataset, user, text, image_name=image_name))
