"""Compare: ROC curves, the figures table (greyed where they rest on too few images or masks), which differences the
test set can tell apart, AUROC per defect type, a threshold per run with its confusion, and the champion."""

import streamlit as st

from dashboard import (
    champion_panel,
    ensemble_panel,
    evidence,
    figures,
    leaderboard,
    results_cache,
    run_info,
    seeds,
    selection,
    significance,
    test_set_panel,
    thresholds,
)
from dashboard.confusion_table import confusion_html
from dashboard.safe_text import literal

st.title("Compare")
dataset = selection.dataset_in_view()
if not dataset:
    st.stop()
runs = selection.pick_runs(dataset)
if not runs:
    st.stop()
test_set_panel.render(runs)

left, right = st.columns([3, 2])
left.plotly_chart(figures.roc_figure(runs), key="roc")
if any(run.auroc_per_defect_type for run in runs):
    right.plotly_chart(figures.defect_auroc_figure(runs), key="defect_auroc")
else:
    right.info("No AUROC per defect type: the test split has a single defect type or no anomalies.")

st.subheader("Figures")
masks = results_cache.mask_counts(runs)
board = leaderboard.leaderboard(runs, masks=masks)
st.dataframe(
    evidence.styled(board, evidence.weak_cells(board, runs, masks)),
    hide_index=True,
    key="figures_table",
    column_config={
        name: st.column_config.Column(help=tip) for name, tip in leaderboard.LEADERBOARD_HELP.items()
    },
)
st.caption(evidence.NOTE)
lead = results_cache.lead_table(runs)
if lead is not None:
    st.markdown(
        "**Which differences are real?** Image AUROC with its 95% interval, and each run against the best "
        "one on the same test images",
        help=significance.HELP,
    )
    st.dataframe(lead, hide_index=True, key="lead_table")
over_seeds = seeds.seed_summary(runs)
if over_seeds is not None:
    st.markdown("**Over seeds** (mean ± std of the chosen runs with the same method and settings)")
    st.dataframe(over_seeds, hide_index=True, key="seeds_table")
ensemble_panel.render(runs)
notes = [(run, run.notes) for run in runs if run.notes]
if notes:
    with st.expander("Run notes"):
        for run, text in notes:
            st.markdown(f"**{run.label}**: " + literal(text.replace("\n", "; ")))

st.subheader("Thresholds")
st.caption(
    "Scores normalised to 0-1 against the normal training images (0.5 = the highest normal training score). "
    "An image is called anomalous when its score reaches the threshold (type it, or step by 0.001); the start "
    "value is the best-F1 one. Review, its presentation and the report count at the same thresholds; the "
    "Inspect page lists the false positives and negatives at them."
)
per_row = 3 if len(runs) > 4 else max(1, min(2, len(runs)))
for start in range(0, len(runs), per_row):
    for column, run in zip(st.columns(per_row), runs[start : start + per_row], strict=False):
        with column:
            value = selection.threshold_input(run)
            table = results_cache.score_table(run.id)
            confusion = thresholds.confusion_at(table.labels, table.scores_normalized, value)
            st.markdown(confusion_html(confusion, run.label), unsafe_allow_html=True)
            st.markdown(
                f"precision **{run_info.fmt(confusion.precision, 2)}** · recall **{run_info.fmt(confusion.recall, 2)}**"
                f" · {confusion.fp} false positive(s) · {confusion.fn} false negative(s)"
            )

st.subheader("Champion")
champion_panel.render(runs, key="compare")
