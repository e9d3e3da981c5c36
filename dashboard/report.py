"""The review report: one self-contained HTML file (Plotly inlined once, images as base64 PNG, no links out)."""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import pandas as pd
import plotly.graph_objects as go

from dashboard.pictures import data_url
from dashboard.results import LEADERBOARD_DIGITS

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
figure img { width: 128px; height: 128px; image-rendering: pixelated; display: block; }
.comment { margin: 0.5rem 0; } .comment .who { color: #666; font-size: 0.85rem; }
"""


@dataclass(frozen=True)
class Example:
    """A chosen image: a title, a line of context and labelled pictures (PNG bytes)."""

    title: str
    caption: str
    pictures: tuple[tuple[str, bytes], ...]


@dataclass(frozen=True)
class ReportComment:
    author: str
    created_at: datetime
    target: str
    text: str


def _table(leaderboard: pd.DataFrame) -> str:
    formatters = {
        col: (lambda v, d=digits: "–" if pd.isna(v) else f"{v:.{d}f}")
        for col, digits in LEADERBOARD_DIGITS.items()
        if col in leaderboard.columns
    }
    return leaderboard.to_html(
        index=False, classes="leaderboard", border=0, escape=True, formatters=formatters, na_rep="–"
    )


def _example(example: Example) -> str:
    figures = "".join(
        f'<figure><img alt="{html.escape(label)}" src="{data_url(png)}"><figcaption>{html.escape(label)}</figcaption></figure>'
        for label, png in example.pictures
    )
    return (
        f'<div class="example"><h3>{html.escape(example.title)}</h3>'
        f'<p>{html.escape(example.caption)}</p><div class="strip">{figures}</div></div>'
    )


def _comment(comment: ReportComment) -> str:
    text = html.escape(comment.text).replace("\n", "<br>")
    when = comment.created_at.strftime("%Y-%m-%d %H:%M")
    return (
        f'<div class="comment"><div class="who">{html.escape(comment.author)} · {when} UTC · on '
        f"{html.escape(comment.target)}</div><div>{text}</div></div>"
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
) -> str:
    """The report as one HTML string that opens offline: Plotly's script is inlined with the first figure."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>Review: {html.escape(dataset)}</title><style>{STYLE}</style></head><body>",
        f"<h1>Review: {html.escape(dataset)}</h1>",
        f'<p class="meta">Anomaly Workbench · generated {generated_at.strftime("%Y-%m-%d %H:%M")} UTC'
        + (f" by {html.escape(author)}" if author else "")
        + f" · {len(leaderboard)} run(s)</p>",
        "<h2>Leaderboard</h2>",
        _table(leaderboard),
    ]
    for i, figure in enumerate(figures):
        parts.append(
            figure.to_html(
                full_html=False,
                include_plotlyjs="inline" if i == 0 else False,
                config={"displaylogo": False, "responsive": True},
            )
        )
    parts.append("<h2>Chosen examples</h2>")
    parts += [_example(e) for e in examples] or ["<p>No images were flagged for this review.</p>"]
    parts.append("<h2>Comments</h2>")
    parts += [_comment(c) for c in comments] or ["<p>No comments.</p>"]
    parts.append("</body></html>")
    return "\n".join(parts)
