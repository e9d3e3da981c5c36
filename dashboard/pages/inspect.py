"""Inspect: pick an image (a filtered, paged gallery by score, or false positives / negatives at the Compare
thresholds), then one row per run: input, reconstruction, error map, attention overlay, score and rank."""

import streamlit as st

from dashboard import gallery, gallery_view, inspect_view, results_cache, score_table, selection
from dashboard.cache import app_store
from dashboard.safe_text import literal
from db import comments

st.title("Inspect")
store = app_store()
dataset = selection.dataset_in_view()
if not dataset:
    st.stop()
runs = selection.pick_runs(dataset)
if not runs:
    st.stop()
by_id = {run.id: run for run in runs}

c1, c2 = st.columns([3, 2])
source = c1.radio(
    "Pick from",
    score_table.SOURCES,
    horizontal=True,
    key="inspect_source",
    format_func=lambda s: s.capitalize(),
)
if st.session_state.get("inspect_reference") not in by_id:
    st.session_state["inspect_reference"] = runs[0].id
reference = by_id[
    c2.selectbox(
        "Ordered by the scores and threshold of",
        list(by_id),
        format_func=lambda i: by_id[i].label,
        key="inspect_reference",
    )
]
threshold = selection.threshold(reference)
table = results_cache.score_table(reference.id)
names = score_table.candidates(table, source, threshold)
if source != "gallery":
    st.caption(
        f"{len(names)} {source} of {reference.label} at threshold {threshold:.2f} (set on the Compare page)."
    )
if not names:
    st.info(f"No {source} for {reference.label} at threshold {threshold:.2f}.")
    st.stop()

dataset = reference.dataset  # the variant the runs were recorded under, e.g. 'mnist:3'
flagged = {f.image_name for f in comments.list_flags(store, dataset)}
with st.expander("Gallery", expanded=True):
    chosen = gallery_view.filters(table)
    names = gallery.filter_names(table, names, chosen, flagged)
    if names and st.session_state.get("inspect_image") not in names:
        st.session_state["inspect_image"] = names[0]
    gallery_view.gallery_page(reference, table, names, chosen, flagged)
if not names:
    st.info("No images match the gallery filters: clear a filter or widen the score range.")
    st.stop()

normalized = dict(zip(table.names, table.scores_normalized, strict=True))
name = st.selectbox(
    "Image",
    names,
    key="inspect_image",
    format_func=lambda n: f"{n} · {normalized[n]:.2f}",
    help="Type to search; the number is the normalised score of the reference run",
)

i = table.index(name)
truth = "normal" if table.labels[i] == 0 else f"anomalous ({table.defect_types[i]})"
head, flag_col = st.columns([4, 1])
head.subheader(f"{literal(name)} · {literal(truth)}")
if name in flagged:
    if flag_col.button(
        "Unflag", key="unflag", icon=":material/flag:", help="Remove from the Review examples"
    ):
        comments.unflag_image(store, dataset, name)
        st.rerun()
elif flag_col.button(
    "Flag for review", key="flag", icon=":material/outlined_flag:", help="Show it on the Review page"
):
    try:
        comments.flag_image(store, dataset, name, st.session_state.get("user", ""), run_id=reference.id)
    except ValueError as exc:
        st.error(literal(exc))
    else:
        st.rerun()

for run in runs:
    inspect_view.run_row(run, name, selection.threshold(run))
