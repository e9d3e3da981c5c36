"""The sidebar shared by every page: who is working (for label history and comments) and the dataset."""

from __future__ import annotations

import streamlit as st

from dashboard import cache

SELECT_NEXT = "sidebar_select_next"


def select_dataset(name: str) -> None:
    """Show `name` in the dataset picker from the next script run on (e.g. right after importing it)."""
    st.session_state[SELECT_NEXT] = name


def render() -> None:
    with st.sidebar:
        st.session_state.setdefault("user", "anonymous")
        st.text_input("Your name", key="user", help="Recorded with labels and comments")
        names = cache.dataset_names()
        if names:
            chosen = st.session_state.pop(SELECT_NEXT, None)
            if chosen in names:
                st.session_state["dataset"] = chosen
            elif st.session_state.get("dataset") not in names:  # none yet, or one deleted meanwhile
                st.session_state["dataset"] = names[0]
            st.selectbox("Dataset", names, key="dataset")
