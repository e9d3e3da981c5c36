"""Embeddings: a t-SNE map of each run's test embeddings with the normal training centroid, side by side.

Plotly hover labels cannot show images, so hovering shows name, label and score; clicking a point (or
choosing its name in the panel) shows its image (full size from its fullscreen button) with its score in every
run in the side panel and rings the same image in every run's map (linked selection)."""

import streamlit as st

from dashboard import embedding_figures, embedding_view, results_cache, results_file, selection

st.title("Embeddings")
dataset = selection.dataset_in_view()
if not dataset:
    st.stop()
runs = selection.pick_runs(dataset)
if not runs:
    st.stop()

colour_by = st.radio("Colour by", embedding_figures.COLOUR_BY, horizontal=True, key="embedding_colour")
st.caption(
    "Each run's test embeddings mapped to 2-D by t-SNE together with a sample of its normal training "
    "embeddings (grey) and their centroid (star). Distances between separate clusters are not meaningful."
)

maps = {}
progress = st.progress(0.0)
for i, run in enumerate(runs):
    progress.progress(
        i / len(runs), text=f"t-SNE of {run.label} ({i + 1} of {len(runs)}; computed once per run)"
    )
    try:
        maps[run.id] = results_cache.embedding_map(run.id)
    except results_file.ResultsFileError:
        st.warning(results_file.unreadable(run), icon=":material/broken_image:")
progress.empty()
mapped = [run for run in runs if run.id in maps]
if not mapped:
    st.stop()

names = sorted({n for run in mapped for n in maps[run.id].names})
selected = embedding_view.selected_image([run.id for run in mapped], names)

plots, panel = st.columns([4, embedding_view.PANEL_WIDTH])
per_row = 1 if len(mapped) == 1 else 2 if len(mapped) <= 4 else 3
with plots:
    for start in range(0, len(mapped), per_row):
        for column, run in zip(st.columns(per_row), mapped[start : start + per_row], strict=False):
            column.plotly_chart(
                embedding_figures.embedding_figure(maps[run.id], colour_by, run.label, selected),
                key=embedding_view.chart_key(run.id, selected),
                on_select="rerun",
                selection_mode="points",
            )

with panel:
    st.markdown("**Image**")
    name = st.selectbox(
        "Image",
        names,
        index=None,
        key=embedding_view.KEY,
        placeholder="Click a point",
        help="Or type to search the test image names",
    )
    embedding_view.remember(name)
    if name:
        embedding_view.side_panel(runs, name)
