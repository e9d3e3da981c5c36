"""Embeddings: a t-SNE map of each run's test embeddings with the normal training centroid, side by side.

Plotly hover labels cannot show images, so hovering shows name, label and score, and clicking a point (or
choosing its name in the panel) shows the image with its score in every run in the side panel."""

import streamlit as st

from dashboard import figures, results, results_cache, selection

st.title("Embeddings")
dataset = selection.dataset_in_view()
if not dataset:
    st.stop()
runs = selection.pick_runs(dataset)
if not runs:
    st.stop()

colour_by = st.radio("Colour by", figures.COLOUR_BY, horizontal=True, key="embedding_colour")
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
    except results.ResultsFileError:
        st.warning(results.unreadable(run), icon=":material/broken_image:")
progress.empty()
mapped = [run for run in runs if run.id in maps]
if not mapped:
    st.stop()

# A point clicked since the last script run becomes the image in the side panel.
clicks = []
for run in mapped:
    state = st.session_state.get(f"tsne_{run.id}") or {}
    clicks += [
        p["customdata"][0] for p in (state.get("selection") or {}).get("points", []) if p.get("customdata")
    ]
names = sorted(maps[mapped[0].id].names)
if clicks and clicks != st.session_state.get("embedding_last_clicks"):
    st.session_state["embedding_last_clicks"] = clicks
    if clicks[-1] in names:
        st.session_state["embedding_image"] = clicks[-1]

plots, panel = st.columns([4, 1])
per_row = 1 if len(mapped) == 1 else 2 if len(mapped) <= 4 else 3
with plots:
    for start in range(0, len(mapped), per_row):
        for column, run in zip(st.columns(per_row), mapped[start : start + per_row], strict=False):
            column.plotly_chart(
                figures.embedding_figure(maps[run.id], colour_by, run.label),
                key=f"tsne_{run.id}",
                on_select="rerun",
                selection_mode="points",
            )

with panel:
    st.markdown("**Image**")
    name = st.selectbox(
        "Image",
        names,
        index=None,
        key="embedding_image",
        placeholder="Click a point",
        help="Or type to search the test image names",
    )
    if name:
        first = runs[0]
        picture = results_cache.input_image(first.dataset, first.image_size, name)
        if picture is not None:
            st.image(picture, caption=name, width="stretch")
        else:
            st.caption(f"{name} (image file not available)")
        for run in runs:
            table = results_cache.score_table(run.id)
            i = table.index(name)
            if i is None:
                continue
            rank = int(results.ranks(table.scores)[i])
            truth = "normal" if table.labels[i] == 0 else f"anomalous ({table.defect_types[i]})"
            st.markdown(
                f"**{run.label}**  \nscore {table.scores[i]:.4g} (normalised {table.scores_normalized[i]:.2f})"
                f"  \nrank {rank} of {len(table.names)} · {truth}"
            )
