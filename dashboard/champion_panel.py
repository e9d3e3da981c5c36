"""The champion of a dataset (engine.registry: the run behind the `champion` alias of its model in MLflow's
Model Registry): which run it is, for the Review page and the report, and a "Make champion" button per chosen
run on the Compare and Review pages."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import streamlit as st

from dashboard import auth, sidebar
from dashboard.cache import app_store
from dashboard.messages import for_people
from dashboard.run_info import RunInfo
from dashboard.safe_text import literal

MESSAGE = "champion_message"
log = logging.getLogger(__name__)


def _mlflow_uri() -> str:
    from db.locations import mlflow_uri

    return mlflow_uri()


def current(dataset: str) -> int | None:
    """The champion run of `dataset` (as its runs were recorded, e.g. 'mnist:3'); None when it has none or
    the registry cannot be asked (logged: the pages go on without it)."""
    return _current(dataset, _mlflow_uri())


@st.cache_data(ttl=30, max_entries=32, show_spinner=False)
def _current(dataset: str, mlflow_uri: str) -> int | None:
    from engine.registry import champion

    try:
        return champion(dataset, mlflow_uri)
    except Exception:  # the tracking server away, a registry it does not offer...
        log.exception("the champion of %s could not be read from the model registry", dataset)
        return None


def label(champion: int | None, runs: Sequence[RunInfo]) -> str | None:
    """'vae #3' for the champion (or 'run #3' when it is not among `runs`); None without one."""
    if champion is None:
        return None
    return next((run.label for run in runs if run.id == champion), f"run #{champion}")


def register(run: RunInfo) -> None:
    """Register `run` as its dataset's champion (as the sidebar's user); the outcome, a success or one
    sentence saying why not, is shown by the next `render`."""
    from engine.registry import register_run

    if (author := sidebar.user()) is None:
        return  # a refused name: the sidebar says why
    try:
        done = register_run(run.id, author, app_store(), _mlflow_uri())
    except ValueError as exc:  # the run cannot be served (an ensemble, an older run...) or the name is taken
        text = literal(for_people(str(exc)).rstrip("."))
        st.session_state[MESSAGE] = ("error", f"{run.label} was not made champion: {text}.")
        return
    except Exception:  # the tracking server refusing or away
        log.exception("registering run %s failed", run.id)
        st.session_state[MESSAGE] = (
            "error",
            f"{run.label} was not made champion: the model registry did not accept it (details in the server log).",
        )
        return
    _current.clear()
    st.session_state[MESSAGE] = (
        "success",
        f"{run.label} is the champion now: version {done.version} of {literal(done.name)} in the model registry.",
    )


def render(runs: Sequence[RunInfo], key: str) -> None:
    """Which run is the champion, and a 'Make champion' button per run in `runs` (the champion's disabled)."""
    kind, text = st.session_state.pop(MESSAGE, (None, ""))
    if kind == "success":
        st.success(text, icon=":material/trophy:")
    elif kind == "error":
        st.error(text, icon=":material/error:")
    champion = current(runs[0].dataset)
    name = label(champion, runs)
    if name is None:
        st.caption(f"No champion on {literal(runs[0].dataset)} yet: make one of these runs the champion.")
    else:
        st.markdown(f":material/trophy: **Champion:** {literal(name)}")
    row = st.container(horizontal=True)
    for run in runs:
        if row.button(
            f"Make {run.label} champion",
            key=f"{key}_champion_{run.id}",
            disabled=run.id == champion,
            icon=":material/trophy:",
            help="Registers the run in MLflow's Model Registry under its dataset's model with the alias "
            "'champion' (what `mlflow models serve -m models:/NAME@champion` serves); who and when go on "
            "the run's comments",
        ) and auth.require("champion"):
            with st.spinner(f"Registering {run.label}…"):
                register(run)
            st.rerun()
