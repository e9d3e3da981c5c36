"""The Compare page's ensemble: combine the chosen runs' saved scores into one more run (engine/ensemble.py),
which then has its own row, ROC curve, threshold and Inspect views like any run."""

from __future__ import annotations

import logging

import streamlit as st

from dashboard import auth, results_cache, sidebar
from dashboard.cache import app_store
from dashboard.messages import for_people
from dashboard.run_info import RunInfo
from dashboard.safe_text import literal
from engine.methods.catalog import ENSEMBLE

MESSAGE = "ensemble_message"
RULE_HELP = {  # the first is the default: best or tied on all five shared datasets (benchmarks/ensemble.py)
    "max_margin": "seed 000's fusion: per image, the run whose score is furthest from its own threshold decides",
    "mean": "mean of each run's score standardised against its normal training scores",
    "rank_mean": "mean of each run's rank among the test scores (ignores how far apart the scores are)",
}
log = logging.getLogger(__name__)


def _record(members: list[RunInfo], rule: str) -> None:
    """Button callback: record the ensemble and add it to the run picker."""
    from db.locations import mlflow_uri
    from engine.ensemble import gain_text
    from engine.ensemble_runs import record

    if (author := sidebar.user()) is None or not auth.require("train"):
        return  # a refused name: the sidebar says why
    try:
        run_id, combined = record([r.id for r in members], rule, author, app_store(), mlflow_uri())
    except (ValueError, FileNotFoundError) as exc:
        st.session_state[MESSAGE] = ("error", literal(for_people(str(exc))))
        return
    except Exception:  # a results file that cannot be read, the store refusing...
        log.exception("recording an ensemble of %s failed", [r.id for r in members])
        st.session_state[MESSAGE] = (
            "error",
            "The ensemble could not be recorded: a run's saved results are unreadable.",
        )
        return
    results_cache.clear_results_caches()
    dataset = members[0].dataset
    saved = st.session_state.setdefault("selected_runs", {})
    widget = f"runs_picker_{dataset}"
    chosen = list(st.session_state.get(widget, saved.get(dataset, [])))
    st.session_state[widget] = saved[dataset] = [*chosen, run_id]
    gain = gain_text(combined.metrics)
    text = f"Recorded the ensemble as run #{run_id}"
    if gain:
        text += f": image AUROC {combined.metrics['image_auroc']:.3f}, {gain}"
    st.session_state[MESSAGE] = ("success", text + ".")


def render(runs: list[RunInfo]) -> None:
    """An expander that combines the chosen runs (ensembles among them left out) by a chosen rule."""
    kind, text = st.session_state.pop(MESSAGE, (None, ""))
    if kind == "success":
        st.success(text, icon=":material/check:")
    elif kind == "error":
        st.error(text, icon=":material/error:")
    members = [r for r in runs if r.method != ENSEMBLE]
    with st.expander("Ensemble of the chosen runs", expanded=False):
        if len(members) < 2:
            st.caption("Choose at least two runs (not ensembles) above to combine them into one.")
            return
        rule = st.radio(
            "Rule", list(RULE_HELP), key="ensemble_rule", horizontal=True, captions=list(RULE_HELP.values())
        )
        st.caption(
            f"Combines {', '.join(r.label for r in members)} on the images they all scored; nothing is trained "
            "again. The result is recorded as a run and appears as one more row and ROC curve."
        )
        st.button(
            "Record ensemble",
            key="ensemble_record",
            on_click=_record,
            args=(members, rule),
            icon=":material/join:",
        )
