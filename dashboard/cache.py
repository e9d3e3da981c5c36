"""All Streamlit caching lives here: resource handles and bounded data caches; never mutate a cached value."""

from __future__ import annotations

import streamlit as st

from db import store
from engine.data import known_datasets


@st.cache_data(ttl=10, max_entries=4, show_spinner=False)
def dataset_names() -> list[str]:
    """Built-in and imported dataset names (refreshed every few seconds)."""
    return known_datasets()


def clear_run_caches() -> None:
    """Forget cached runs after something new was recorded."""
    dataset_names.clear()


def db_ready() -> None:
    """Open (and migrate) the results store once per process."""
    _engine()


@st.cache_resource(show_spinner=False)
def _engine():
    return store.get_engine()
