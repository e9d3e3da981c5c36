"""The Compare page's test-set check: a warning when runs were scored on different labels, and re-scoring."""

from __future__ import annotations

import logging

import streamlit as st

from dashboard import auth, results_cache, run_info, sidebar
from dashboard.cache import app_store
from dashboard.run_info import RunInfo
from dashboard.safe_text import literal

MESSAGE = "rescore_message"
log = logging.getLogger(__name__)


def _rescore(runs: list[RunInfo]) -> None:
    """Button callback: re-score `runs` and put the new runs in their place in the run picker."""
    from db.locations import mlflow_uri
    from engine.rescore import rescore

    if (author := sidebar.user()) is None or not auth.require("train"):
        return  # a refused name: the sidebar says why
    done, failed = {}, []
    for run in runs:
        try:
            done[run.id] = rescore(run.id, author, app_store(), mlflow_uri())
        except ValueError as exc:
            failed.append(f"{run.label}: {literal(exc)}")
        except Exception:  # a results file that cannot be read, the store refusing...
            log.exception("re-scoring run %s failed", run.id)
            failed.append(f"{run.label}: its saved predictions could not be read; train it again")
    results_cache.clear_results_caches()
    saved = st.session_state.setdefault("selected_runs", {})
    for dataset in {run.dataset for run in runs}:
        widget = f"runs_picker_{dataset}"
        chosen = st.session_state.get(widget, saved.get(dataset, []))
        st.session_state[widget] = saved[dataset] = [done[i].run_id if i in done else i for i in chosen]
    lines = [
        f"{run.label} re-scored as #{done[run.id].run_id} on {done[run.id].n_test} images"
        + (
            f" ({done[run.id].unscored} labeled since need a new training run)"
            if done[run.id].unscored
            else ""
        )
        for run in runs
        if run.id in done
    ]
    st.session_state[MESSAGE] = (lines, failed)


def render(runs: list[RunInfo]) -> None:
    """Warn when the chosen runs do not share one test set; offer to re-score the stale ones."""
    lines, failed = st.session_state.pop(MESSAGE, ([], []))
    if lines:
        st.success("; ".join(lines) + ".", icon=":material/check:")
    for line in failed:
        st.error(line, icon=":material/error:")
    current = results_cache.current_label_set(runs[0].dataset)
    warning = run_info.test_set_warning(runs, current)
    if not warning:
        return
    stale = run_info.stale_runs(runs, current)
    st.warning(warning, icon=":material/warning:")
    if stale:
        st.button(
            f"Re-score {len(stale)} run(s) on the current labels",
            key="rescore",
            on_click=_rescore,
            args=(stale,),
            icon=":material/refresh:",
            help="Evaluates each run's saved scores and maps again on today's labels and records a new run; "
            "images added since its training are not scored (train again for them).",
        )
