"""Choices that outlive a page switch and a reload: who you are, the dataset, the Label filters, the runs
picked and their thresholds. They live in session state and are mirrored in the URL's query parameters, so
a reload (a new session) starts from the URL, and a link shows a colleague the same view."""

from __future__ import annotations

import streamlit as st

RESTORED = "_state_restored"
# session key -> query parameter, for plain text and yes/no choices (widget keys: kept across pages too)
TEXT = {"user": "user", "dataset": "dataset", "label_split": "split", "label_order": "order"}
FLAGS = {"label_only_unlabeled": "unlabeled", "presentation": "present"}


def _ints(text: str) -> list[int]:
    return [int(v) for v in text.split(",") if v.strip().isdigit()]


def _thresholds(text: str) -> dict[int, float]:
    out = {}
    for pair in text.split(","):
        run, _, value = pair.partition(":")
        try:
            out[int(run)] = min(max(float(value), 0.0), 1.0)
        except ValueError:
            continue  # a hand-edited URL: ignore what does not parse
    return out


def restore() -> None:
    """Once per session: take the choices from the URL. On every run: keep widget values that the page
    does not draw (Streamlit drops those), so switching pages keeps the filters."""
    state, params = st.session_state, st.query_params
    if not state.get(RESTORED):
        state[RESTORED] = True
        for key, param in TEXT.items():
            if param in params and key not in state:
                state[key] = params[param]
        for key, param in FLAGS.items():
            if param in params and key not in state:
                state[key] = params[param] == "1"
        if "runs" in params and state.get("dataset"):
            state.setdefault("selected_runs", {})[state["dataset"]] = _ints(params["runs"])
        if "thresholds" in params:
            state.setdefault("thresholds", {}).update(_thresholds(params["thresholds"]))
    for key in (*TEXT, *FLAGS):
        if key in state:
            state[key] = state[key]


def _set(param: str, value: str | None) -> None:
    if value in (None, ""):
        if param in st.query_params:
            del st.query_params[param]
    elif st.query_params.get(param) != value:
        st.query_params[param] = value


def remember() -> None:
    """Write the current choices into the URL. Called before the page runs (a page may stop early), so it
    reads the widgets' values, which Streamlit has already updated for this run."""
    state = st.session_state
    for key, param in TEXT.items():
        _set(param, str(state[key]) if state.get(key) is not None else None)
    for key, param in FLAGS.items():
        _set(param, None if key not in state else "1" if state[key] else "0")
    dataset = state.get("dataset")
    runs = state.get(f"runs_picker_{dataset}", state.get("selected_runs", {}).get(dataset))
    _set("runs", ",".join(map(str, runs)) if runs else None)
    thresholds = {**(state.get("thresholds") or {})}
    thresholds.update({i: state[f"threshold_{i}"] for i in runs or [] if f"threshold_{i}" in state})
    shown = [i for i in (runs or []) if i in thresholds]
    _set("thresholds", ",".join(f"{i}:{thresholds[i]:.3f}" for i in shown) or None)
