"""The sidebar shared by every page: who is working (for label history and comments) and the dataset."""

from __future__ import annotations

import streamlit as st

from dashboard import cache


def render() -> None:
    with st.sidebar:
        st.session_state.setdefault("user", "anonymous")
        st.text_input("Your name", key="user", help="Recorded with labels and comments")
        names = cache.dataset_names()
        if names:
            current = st.session_state.get("dataset")
            index = names.index(current) if current in names else 0
            st.selectbox("Dataset", names, index=index, key="dataset")
