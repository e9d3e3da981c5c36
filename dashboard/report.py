"""The review report: one self-contained HTML file (Plotly inlined once, images as base64 PNG, no links out)
with the leaderboard (figures resting on too few images or masks greyed), the champion, which differences the test
set can tell apart, test-set sizes, run notes, figures, thresholds with their confusion matrices, t-SNE maps, the
chosen examples (sent at the image's own size, up to 1024 px; a click on one shows it so) with their comments, and
the other comment threads."""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import pandas as pd
import plotly.graph_objects as go

from dashboard import significance
from dashboard.evidence import NOTE as WEAK_NOTE
from dashboard.leaderboard import LEADERBOARD_DIGITS
from dashboard.pictures import data_url
from dashboard.run_info import fmt
from dashboard.thresholds import Confusion, threshold_text

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto; max-width: 1200px;
       color: #222; padding: 0 1rem; }
h1 { margin-bottom: 0.2rem; } .meta { color: #666; margin-top: 0; }
table.leaderboard { border-collapse: collapse; font-size: 0.9rem; }
table.leaderboard th, table.leaderboard td { border-bottom: 1px solid #ddd; padding: 0.3rem 0.6rem; text-align: right; }
table.leaderboard th:first-child, table.leaderboard td:first-child { text-align: left; }
.example { margin: 1rem 0; padding-bottom: 0.8rem; border-bottom: 1px solid #eee; }
.strip { display: flex; flex-wrap: wrap; gap: 0.6rem; }
figure { margin: 0; text-align: center; font-size: 0.8rem; color: #555; }
figure img { height: 128px; width: auto; max-width: 90vw; display: block; cursor: zoom-in; }
figure img:focus { height: auto; outline: 2px solid #3b6fb6; cursor: zoom-out; }
.comment { margin: 0.5rem 0; } .comment .who { color: #666; font-size: 0.85rem; }
.reply { border-left: 3px solid #e3e3e3; }
.warning { background: #fff4e5; border-left: 4px solid #f0a030; padding: 0.5rem 0.8rem; }
td.weak { color: #9a9a9a; font-style: italic; }
.champion { background: #eef6ee; border-left: 4px solid #3a9a4a; padding: 0.5rem 0.8rem; }
.confusions { display: flex; flex-wrap: wrap; gap: 1.5rem; }
table.confusion { border-collapse: collapse; margin: 0.3rem 0; }
table.confusion th, table.confusion td { border: 1px solid #ddd; padding: 0.3rem 0.7rem; text-align: center; }
.example-body { display: flex; flex-wrap: wrap; gap: 1.5rem; } .example-body .comments { max-width: 420px; }
"""


@dataclass(frozen=True)
class ReportComment:
    author: str
    created_at: datetime
    target: str
    text: str
    depth: int = 0  # 0 starts a thread, 1 answers it, 2 answers the answer...
    edited_at: datetime | None = None


@dataclass(frozen=True)
class Example:
    """A chosen image: a title, a line of context, labelled pictures (PNG bytes) and the comments on it."""

    title: str
    caption: str
    pictures: tuple[tuple[str, bytes], ...]
    comments: tuple[ReportComment, ...] = ()


@dataclass(frozen=True)
class RunCounts:
    """The test set a run was scored on: n images and n per defect type, e.g. 'good 6, square 4'."""

    run: str
    n: int | None
    per_defect_type: str


@dataclass(frozen=True)
class ThresholdRow:
    """The threshold chosen for a run (on normalised scores) and its confusion there."""

    run: str
    confusion: Confusion


def _cell(value: object, column: str) -> str:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return "–"
    digits = LEADERBOARD_DIGITS.get(column)
    if digits is not None and isinstance(value, int | float):
        return f"{value:.{digits}f}"
    return html.escape(str(value))


def _table(table: pd.DataFrame, weak: pd.DataFrame | None = None) -> str:
    """`table` as HTML, numbers at the leaderboard's decimals; cells True in `weak` greyed (class weak)."""
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in table.columns)
    rows = []
    for index, row in table.iterrows():
        cells = []
        for column, value in row.items():
            grey = weak is not None and column in weak.columns and bool(weak.at[index, column])
            attrs = ' class="weak"' if grey else ""
            cells.append(f"<td{attrs}>{_cell(value, str(column))}</td>")
        rows.append(f"<tr>{''.join(cells)}</tr>")
    return f'<table class="leaderboard"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


def _comment(comment: ReportComment) -> str:
    text = html.escape(comment.text).replace("\n", "<br>")
    when = comment.created_at.strftime("%Y-%m-%d %H:%M")
    edited = f" · edited {comment.edited_at:%Y-%m-%d %H:%M} UTC" if comment.edited_at else ""
    attrs = 'class="comment"'
    if comment.depth:  # an answer: indented under the comment it answers
        attrs = f'class="comment reply" style="margin-left: {1.5 * min(comment.depth, 6):.1f}rem; padding-left: 0.6rem"'
    return (
        f'<div {attrs}><div class="who">{html.escape(comment.author)} · {when} UTC · on '
        f"{html.escape(comment.target)}{edited}</div><div>{text}</div></div>"
    )


def _example(example: Example) -> str:
    figures = "".join(
        f'<figure><img alt="{html.escape(label)}" src="{data_url(png)}" tabindex="0" title="click to see it at its own size"><figcaption>{html.escape(label)}</figcaption></figure>'
        for label, png in example.pictures
    )
    notes = "".join(_comment(c) for c in example.comments)
    notes = f'<div class="comments">{notes}</div>' if notes else ""
    return (
        f'<div class="example"><h3>{html.escape(example.title)}</h3>'
        f'<p>{html.escape(example.caption)}</p><div class="example-body"><div class="strip">{figures}</div>'
        f"{notes}</div></div>"
    )


def _counts(counts: Sequence[RunCounts], warning: str | None) -> list[str]:
    rows = "".join(
        f"<tr><td>{html.escape(c.run)}</td><td>{'–' if c.n is None else c.n}</td>"
        f"<td>{html.escape(c.per_defect_type) or '–'}</td></tr>"
        for c in counts
    )
    parts = [f'<p class="warning">{html.escape(warning)}</p>'] if warning else []
    head = "<tr><th>run</th><th>test images</th><th>per defect type</th></tr>"
    return [*parts, f'<table class="leaderboard"><thead>{head}</thead><tbody>{rows}</tbody></table>']


def _confusion(row: ThresholdRow) -> str:
    c = row.confusion
    return (
        f"<div><h3>{html.escape(row.run)} at {threshold_text(c.threshold)}</h3>"
        '<table class="confusion"><tr><th>truth \\ called</th><th>normal</th><th>anomalous</th></tr>'
        f"<tr><th>normal</th><td>TN {c.tn}</td><td>FP {c.fp}</td></tr>"
        f"<tr><th>anomalous</th><td>FN {c.fn}</td><td>TP {c.tp}</td></tr></table>"
        f"<div>precision {fmt(c.precision, 2)} · recall {fmt(c.recall, 2)}</div></div>"
    )


def build_report(
    *,
    dataset: str,
    leaderboard: pd.DataFrame,
    figures: Sequence[go.Figure],
    examples: Sequence[Example],
    comments: Sequence[ReportComment],
    generated_at: datetime,
    author: str = "",
    counts: Sequence[RunCounts] = (),
    test_set_warning: str | None = None,
    notes: Sequence[tuple[str, str]] = (),
    thresholds: Sequence[ThresholdRow] = (),
    embedding_figures: Sequence[go.Figure] = (),
    not_mapped: Sequence[str] = (),
    lead: pd.DataFrame | None = None,
    weak: pd.DataFrame | None = None,
    champion: str | None = None,
) -> str:
    """The report as one HTML string that opens offline: Plotly's script is inlined with the first figure.
    `notes` are (run, note) pairs; `not_mapped` names the runs whose t-SNE maps were not computed; `lead` is
    `significance.lead_table` (each run's AUROC interval and its paired difference to the best run); `weak`
    (booleans shaped like `leaderboard`) marks the figures resting on too few images or masks; `champion` names
    the dataset's champion run."""
    drawn = 0

    def figure_html(figure: go.Figure) -> str:
        nonlocal drawn
        drawn += 1
        return figure.to_html(
            full_html=False,
            include_plotlyjs="inline" if drawn == 1 else False,
            config={"displaylogo": False, "responsive": True},
        )

    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>Review: {html.escape(dataset)}</title><style>{STYLE}</style></head><body>",
        f"<h1>Review: {html.escape(dataset)}</h1>",
        f'<p class="meta">Anomaly Workbench · generated {generated_at.strftime("%Y-%m-%d %H:%M")} UTC'
        + (f" by {html.escape(author)}" if author else "")
        + f" · {len(leaderboard)} run(s)</p>",
        "<h2>Leaderboard</h2>",
        _table(leaderboard, weak),
    ]
    if weak is not None and weak.to_numpy().any():
        parts.append(f"<p>{html.escape(WEAK_NOTE)}</p>")
    parts.append(
        f'<p class="champion">Champion: <b>{html.escape(champion)}</b> (the run behind the alias '
        "<code>champion</code> in MLflow's Model Registry)</p>"
        if champion
        else "<p>No champion registered for this dataset.</p>"
    )
    if lead is not None:
        parts += [
            "<h2>Which differences are real?</h2>",
            f"<p>{html.escape(significance.HELP)}</p>",
            _table(lead),
        ]
    if counts:
        parts += ["<h2>Test sets</h2>", *_counts(counts, test_set_warning)]
    if notes:
        parts.append("<h2>Run notes</h2>")
        parts += [
            f"<p><b>{html.escape(run)}</b>: {html.escape(text).replace(chr(10), '<br>')}</p>"
            for run, text in notes
        ]
    parts += [figure_html(figure) for figure in figures]
    if thresholds:
        parts.append("<h2>Thresholds</h2>")
        parts.append(
            "<p>On scores normalised to 0-1 against the normal training images (0.5 = the highest normal "
            "training score); an image is called anomalous when its score reaches the threshold.</p>"
        )
        parts.append(f'<div class="confusions">{"".join(_confusion(row) for row in thresholds)}</div>')
    if embedding_figures or not_mapped:
        parts.append("<h2>t-SNE maps</h2>")
        parts += [figure_html(figure) for figure in embedding_figures]
        if not_mapped:
            parts.append(
                f"<p>Not computed for {html.escape(', '.join(not_mapped))}: open the Embeddings page with "
                "these runs before downloading the report to include them.</p>"
            )
    parts.append("<h2>Chosen examples</h2>")
    parts += [_example(e) for e in examples] or ["<p>No images were flagged for this review.</p>"]
    parts.append("<h2>Comments</h2>")
    parts += [_comment(c) for c in comments] or ["<p>No comments.</p>"]
    parts.append("</body></html>")
    return "\n".join(parts)
