"""File panels of the Label page: add images to label, and the MVTec-layout export for download."""

from __future__ import annotations

import logging
from pathlib import Path

import streamlit as st

from dashboard import auth, cache
from dashboard.messages import for_people
from dashboard.safe_text import literal
from db.locations import data_dir
from db.store import Store
from engine.data.additions import add_test_images
from engine.data.export import export_mvtec
from engine.data.types import DatasetError

log = logging.getLogger(__name__)


def add_images_panel(dataset: str, store: Store) -> None:
    """Upload images into the dataset's test split as unlabeled, with a progress bar and skipped files."""
    with st.expander("Add images to label", icon=":material/add_photo_alternate:"):
        added = st.session_state.get("label_uploads_added", 0)  # a new uploader after each addition
        uploads = st.file_uploader(
            "Images (added to the test split, unlabeled)",
            accept_multiple_files=True,
            key=f"label_upload_{added}",
        )
        if not st.button("Add images", key="add_images", disabled=not uploads) or not auth.require("import"):
            return
        bar = st.progress(0.0, text="Adding images...")
        files = [(f.name, f.getvalue()) for f in uploads]
        try:
            report = add_test_images(dataset, files, store, lambda done, total: bar.progress(done / total))
        except DatasetError as exc:
            st.error(f"Upload refused: {literal(for_people(str(exc)))}")
            return
        st.success(
            f"Added {report.total} image(s) to {literal(dataset)}; skipped {len(report.skipped)}, "
            f"duplicates {len(report.duplicates)}."
        )
        for file, reason in report.skipped:
            st.warning(f"{literal(file)}: {literal(for_people(reason))}")
        for file, first in report.duplicates:
            st.info(f"{literal(file)}: same content as {literal(first)}")
        cache.clear_dataset_caches()
        st.session_state["label_uploads_added"] = added + 1  # the next addition starts empty


def export_panel(dataset: str, store: Store) -> None:
    """Build the zip on request, then offer it for download."""
    st.subheader("Export")
    st.caption(
        "The labeled images in MVTec AD layout (train/good, test/<type>, ground_truth/<type>) plus labels.csv."
    )
    if st.button("Build export zip", key="build_export", icon=":material/archive:"):
        target = data_dir() / ".exports" / f"{dataset}.zip"
        try:
            with st.spinner("Writing the zip..."):
                report = export_mvtec(dataset, target, store=store)
        except DatasetError as exc:
            st.error(literal(for_people(str(exc), path_word="the dataset folder")))
        except OSError:
            log.exception("export of %s to %s failed", dataset, target)
            st.error(
                f"The export zip of {literal(dataset)} could not be written (the server log has the details)."
            )
        else:
            st.session_state["label_export"] = (
                str(report.path),
                report.total,
                report.masks,
                len(report.left_out),
            )
    export = st.session_state.get("label_export")
    if not export or Path(export[0]).stem != dataset or not Path(export[0]).is_file():
        return
    path, total, n_masks, left_out = export
    st.write(f"{total} images, {n_masks} masks; {left_out} unlabeled image(s) left out.")
    st.download_button(
        "Download zip",
        Path(path).read_bytes(),
        file_name=Path(path).name,
        mime="application/zip",
        key="download_export",
    )
