"""Parts of the Review page: the chosen examples (as pictures for the page and the report) and the report."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import streamlit as st

from dashboard import figures, pictures, results, results_cache
from dashboard.report import Example, ReportComment, build_report
from dashboard.results import RunInfo
from db import comments
from db.comments import CommentRow, FlagRow

EXAMPLE_PX = 128


def example(flag: FlagRow, runs: Sequence[RunInfo]) -> Example:
    """The input (defect outlined) and each run's error map of a flagged image, with its truth and note."""
    shown: list[tuple[str, bytes]] = []
    truth = "not in the selected runs' test sets"
    input_done = False
    unreadable: list[str] = []
    for run in runs:
        table = results_cache.score_table(run.id)
        i = table.index(flag.image_name)
        try:
            views = results_cache.image_views(run.id, flag.image_name)
            lo, hi = results_cache.map_range(run.id)
        except results.ResultsFileError:
            unreadable.append(results.unreadable(run))
            continue
        if i is None or views is None:
            continue
        truth = "normal" if table.labels[i] == 0 else f"anomalous ({table.defect_types[i]})"
        if not input_done:
            picture = results_cache.input_image(run.dataset, run.image_size, flag.image_name)
            if picture is not None:
                outlined = pictures.outline(picture, views.mask) if views.mask is not None else picture
                shown.append(("input", pictures.png_bytes(outlined, EXAMPLE_PX)))
            input_done = True
        label = f"{run.label}: {table.scores_normalized[i]:.2f}"
        shown.append((label, pictures.png_bytes(pictures.heat(views.anomaly_map, lo, hi), EXAMPLE_PX)))
    note = f": {flag.note}" if flag.note else ""
    flagged_from = f" from run #{flag.run_id}" if flag.run_id is not None else ""
    caption = f"{truth} · flagged by {flag.author}{flagged_from}{note} · numbers are normalised scores"
    caption = " ".join([caption, *unreadable])
    return Example(title=flag.image_name, caption=caption, pictures=tuple(shown))


def show_example(item: Example, key: str) -> bool:
    """Draw one example; True when its Unflag button was pressed."""
    head, button = st.columns([5, 1])
    head.markdown(f"**{item.title}**  \n{item.caption}")
    pressed = button.button("Unflag", key=key, icon=":material/flag:")
    if item.pictures:
        st.image(
            [png for _, png in item.pictures], caption=[label for label, _ in item.pictures], width=EXAMPLE_PX
        )
    return pressed


def target(row: CommentRow, runs: Sequence[RunInfo]) -> str:
    """What a comment is about, with the run's method where the run is known, e.g. 'vae #3, test/a.png'."""
    labels = {run.id: run.label for run in runs}
    parts = [labels.get(row.run_id, f"run #{row.run_id}")] if row.run_id is not None else []
    return ", ".join([*parts, *([row.image_name] if row.image_name else [])]) or "the dataset"


def show_comments(rows: Sequence[CommentRow], runs: Sequence[RunInfo]) -> None:
    """Comments oldest first: author, time and target as a heading, the text shown verbatim."""
    if not rows:
        st.caption("No comments yet.")
    for row in rows:
        with st.chat_message("user", avatar=":material/person:"):
            st.markdown(f"**{row.author}** · {row.created_at:%Y-%m-%d %H:%M} UTC · on {target(row, runs)}")
            st.text(row.text)


def report_html(dataset: str, runs: Sequence[RunInfo], author: str) -> str:
    """The self-contained HTML report of what the Review page shows."""
    flags = comments.list_flags(dataset)
    notes = comments.list_comments(dataset)
    return build_report(
        dataset=dataset,
        leaderboard=results.leaderboard(runs, sort=True),
        figures=[figures.roc_figure(runs), figures.defect_auroc_figure(runs)],
        examples=[example(flag, runs) for flag in flags],
        comments=[ReportComment(c.author, c.created_at, target(c, runs), c.text) for c in notes],
        generated_at=datetime.now(UTC).replace(tzinfo=None),
        author=author,
    )
