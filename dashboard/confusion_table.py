"""A run's confusion matrix at its threshold as a small HTML table (truth by call, each cell tinted by its count).
Compare shows one per run: a table costs the server and the browser a fraction of a Plotly heatmap each, which
kept Compare over its 2 s goal on a busy team server. The presentation and the report keep their figures."""

from __future__ import annotations

import html

from dashboard.thresholds import Confusion, at_threshold

CELLS = (("normal", (("tn", "TN"), ("fp", "FP"))), ("anomalous", (("fn", "FN"), ("tp", "TP"))))
TINT_RGB = (49, 130, 189)  # the blue of the heatmaps it replaces


def confusion_html(confusion: Confusion, run_label: str) -> str:
    """The table as HTML for `st.markdown(..., unsafe_allow_html=True)`; each count cell carries `data-cell`
    (tn, fp, fn, tp) so tests and scripts can read it."""
    top = max(confusion.tn, confusion.fp, confusion.fn, confusion.tp, 1)
    rows = []
    for truth, cells in CELLS:
        tds = []
        for key, name in cells:
            count = getattr(confusion, key)
            alpha = 0.08 + 0.72 * count / top
            ink = "#fff" if alpha > 0.5 else "inherit"
            style = (
                f"background:rgba({','.join(map(str, TINT_RGB))},{alpha:.2f});color:{ink};text-align:center"
            )
            tds.append(f'<td data-cell="{key}" style="{style}">{name}<br><b>{count}</b></td>')
        rows.append(f"<tr><th>{truth}</th>{''.join(tds)}</tr>")
    return (
        f'<div class="confusion"><b>{html.escape(at_threshold(run_label, confusion.threshold))}</b>'
        '<table style="width:100%;margin-top:0.3rem"><tr><th>truth \\ call</th><th>called normal</th>'
        f"<th>called anomalous</th></tr>{''.join(rows)}</table></div>"
    )
