"""All Streamlit caching lives here: resource handles and bounded data caches; never mutate a cached value."""

from __future__ import annotations

import streamlit as st

from db.store import Store
from engine.data import known_datasets


@st.cache_data(ttl=10, max_entries=4, show_spinner=False)
def dataset_names() -> list[str]:
    """Built-in and imported dataset names (refreshed every few seconds)."""
    return known_datasets()


def app_store() -> Store:
    """The results store of this app process (`WORKBENCH_DB_URL`); `Store.at` keeps one per URL."""
    return Store.at()


@st.cache_resource(show_spinner=False)
def stores_ready() -> str:
    """Create or upgrade both stores once per app process (`python -m engine migrate` does the same)."""
    from engine import mlflow_store

    revision = Store.migrate()
    mlflow_store.client().search_experiments(max_results=1)
    return revision


# --- datasets, labeling and training pages ----------------------------------------------------------


@st.cache_data(ttl=5, max_entries=8, show_spinner=False)
def dataset_summaries(store: Store):
    """Stored datasets with counts per split and label (refreshed every few seconds)."""
    from db.datasets import summaries

    return summaries(store)


@st.cache_data(max_entries=4, show_spinner="Loading the built-in set...")
def builtin_overview(name: str) -> tuple[dict, list[tuple[bytes, str]]]:
    """Overview row and sample thumbnails of a built-in set (loaded once per process)."""
    import torch

    from dashboard.datasets_view import builtin_overview as overview
    from dashboard.thumbs import tensor_thumbnails

    row, data, samples = overview(name)
    images = torch.cat([data.train.images, data.test.images])
    pictures = tensor_thumbnails(images, [i for i, _ in samples])
    return row, [(png, caption) for png, (_, caption) in zip(pictures, samples, strict=True)]


@st.cache_data(max_entries=2000, show_spinner=False)
def file_thumbnail(path: str, mtime: float, size: int = 96) -> bytes:
    """PNG thumbnail of an image file; `mtime` makes a changed file a new entry."""
    from pathlib import Path

    from dashboard.thumbs import file_thumbnail as thumbnail

    return thumbnail(Path(path), size)


@st.cache_resource(show_spinner=False)
def executor(store: Store):
    """The one executor of this app process for a results store (`WORKBENCH_EXECUTOR`: local or ray)."""
    from engine.executors import executor_from_config

    return executor_from_config(store)


def clear_dataset_caches() -> None:
    """Forget dataset lists and counts after an import, a deletion or new labels."""
    dataset_names.clear()
    dataset_summaries.clear()
