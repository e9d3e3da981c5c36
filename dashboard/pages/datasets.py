"""Datasets: built-in and imported sets with counts and sample pictures; upload a new one; delete one."""

import logging
import tempfile
from pathlib import Path

import pandas as pd
import streamlit as st

from dashboard import auth, cache, sidebar
from dashboard.cache import app_store
from dashboard.datasets_view import COLUMNS, builtin_run_counts, sample_paths, stage_upload, summary_row
from dashboard.messages import for_people, name_from_file
from dashboard.safe_text import literal
from db import datasets as db_datasets
from db import runs as db_runs
from db.datasets import soft_delete
from db.locations import data_dir
from engine.data.builtin import BUILTIN_NAMES
from engine.data.images import IMAGE_SUFFIXES
from engine.data.importer import import_dataset
from engine.data.leftovers import UPLOAD_PREFIX, owned
from engine.data.types import DatasetError

store = app_store()
st.title("Datasets")
summaries = {s.name: s for s in cache.dataset_summaries(store)}
builtins = {name: cache.builtin_overview(name) for name in BUILTIN_NAMES}
runs = builtin_run_counts(BUILTIN_NAMES, [r.dataset_name for r in db_runs.list_runs(store)])
rows = [{**row, "runs": runs[name]} for name, (row, _) in builtins.items()]
rows += [summary_row(s) for s in summaries.values()]
st.dataframe(pd.DataFrame(rows, columns=list(COLUMNS)), hide_index=True, width="stretch")
st.caption("Built-in sets also come as `mnist:D` / `mnist-noisy:D` with digit D as the normal class.")

# --- sample pictures ------------------------------------------------------------------------------
names = [*BUILTIN_NAMES, *summaries]
if st.session_state.get("pictures_of") not in names:  # first visit, or right after an import or a delete
    current = st.session_state.get("dataset")
    st.session_state["pictures_of"] = current if current in names else names[0]
shown = st.selectbox("Pictures of", names, key="pictures_of")
if shown in builtins:
    pictures = builtins[shown][1]
else:
    paths = sample_paths(summaries[shown], db_datasets.list_images(store, summaries[shown].id))
    pictures = [(cache.file_thumbnail(str(p), p.stat().st_mtime if p.exists() else 0.0), c) for p, c in paths]
columns = st.columns(8)
for i, (png, caption) in enumerate(pictures):
    columns[i % 8].image(png, caption=literal(caption), width="stretch")

# --- upload ---------------------------------------------------------------------------------------
st.subheader("Add a dataset")
st.markdown(
    "Upload **one zip** (a category in MVTec AD layout, `train/good`, `test/<type>`, `ground_truth/<type>`, "
    "or a flat folder of normal images) or **many image files** (a new normal dataset). "
    "Label test images afterwards on the Label page."
)
form = st.session_state.get("upload_form", 0)  # a new number after each import: an empty name and uploader
with st.form("upload", clear_on_submit=False):  # a refused upload keeps its file and name, to fix and retry
    new_name = st.text_input(
        "Name",
        placeholder="e.g. bottle-line-3 (empty: the zip's name)",
        help="1-64 letters, digits, '_', '.' or '-', starting with a letter or digit; empty: named after the zip",
        key=f"upload_name_{form}",
    )
    files = st.file_uploader(
        "Zip or images",
        type=["zip", *(s.lstrip(".") for s in IMAGE_SUFFIXES)],
        accept_multiple_files=True,
        key=f"upload_files_{form}",
    )
    submitted = st.form_submit_button("Import", type="primary", icon=":material/upload:")

if submitted and auth.require("import"):
    uploads = [(f.name, f.getvalue()) for f in files or []]
    source_name = uploads[0][0] if len(uploads) == 1 else f"{len(uploads)} files"
    zipped = len(uploads) == 1 and source_name.lower().endswith(".zip")
    chosen_name = new_name.strip() or (name_from_file(source_name) if zipped else "")
    bar = st.progress(0.0, text="Checking the upload...")
    staged: Path | None = None
    try:
        data_dir().mkdir(parents=True, exist_ok=True)
        # flocked while it is used, so the next import or `migrate` removes it if this server is killed meanwhile
        with tempfile.TemporaryDirectory(prefix=UPLOAD_PREFIX, dir=data_dir()) as tmp, owned(Path(tmp)):
            staged, refused = stage_upload(uploads, Path(tmp))

            def on_progress(done: int, total: int) -> None:
                bar.progress(done / max(total, 1), text=f"Importing {done}/{total} images")

            report = import_dataset(staged, chosen_name, progress=on_progress)
    except DatasetError as exc:
        bar.empty()
        message = for_people(str(exc), {str(staged): source_name} if staged else {})
        st.error(f"Upload {literal(repr(source_name))} refused: {literal(message)}", icon=":material/error:")
    except OSError:  # disk full, permissions while staging the upload
        bar.empty()
        logging.getLogger(__name__).exception("staging the upload %s failed", source_name)
        st.error(
            f"Upload {literal(repr(source_name))} could not be stored on the server (the log there has the details)."
        )
    else:
        cache.clear_dataset_caches()
        st.session_state["last_import"] = (report, refused)
        st.session_state["upload_form"] = form + 1  # the next upload starts empty
        sidebar.select_dataset(report.name)  # the next pages (Label, Train) start on it
        st.session_state.pop("pictures_of", None)  # and its pictures are shown
        st.rerun()  # draw the overview table and the sidebar again, with the new dataset

if "last_import" in st.session_state:
    report, refused = st.session_state["last_import"]
    st.success(
        f"Imported {report.total} images into **{literal(report.name)}** ({report.kind}, {report.channels} channel(s))."
    )
    counts = pd.DataFrame(
        [(s, d, n) for (s, d), n in report.counts.items()], columns=["split", "type", "images"]
    )
    st.dataframe(counts, hide_index=True)
    skipped = [(file, for_people(reason)) for file, reason in [*refused, *report.skipped]]
    if skipped:
        st.warning(f"{len(skipped)} file(s) skipped")
        st.dataframe(pd.DataFrame(skipped, columns=["file", "reason"]), hide_index=True)
    if report.duplicates:
        st.info(f"{len(report.duplicates)} duplicate(s) skipped (same content as an earlier file)")
        dupes = pd.DataFrame(report.duplicates, columns=["file", "same as"])
        st.dataframe(dupes, hide_index=True)

# --- delete ---------------------------------------------------------------------------------------
with st.expander("Delete a dataset", icon=":material/delete:"):
    if not summaries:
        st.write("No imported datasets. Built-in sets cannot be deleted.")
    else:
        victim = st.selectbox("Dataset to delete", list(summaries), key="delete_name")
        s = summaries[victim]
        st.write(
            f"**{literal(victim)}** has {sum(s.counts.values())} images and {s.runs} run(s). Deleting hides it from the "
            "lists; its files and runs are kept, so Compare and Review can still show them. The name stays taken."
        )
        typed = st.text_input("Type the dataset name to confirm", key="delete_confirm")
        if st.button(
            "Delete", type="primary", disabled=typed.strip() != victim, key="delete_button"
        ) and auth.require("delete"):
            soft_delete(store, victim)
            cache.clear_dataset_caches()
            st.session_state.pop("last_import", None)
            st.toast(f"Deleted {literal(victim)}")
            st.rerun()
