"""Score new images: uploaded images (or a zip), or the dataset's unlabeled images, scored by a saved run
(default: the dataset's champion) into a gallery, highest score first; picked images go to the Label page."""

import numpy as np
import streamlit as st

from dashboard import (
    auth,
    cache,
    label_suggest,
    model_cache,
    pictures,
    results_cache,
    score_view,
    selection,
    sidebar,
)
from dashboard.cache import app_store
from dashboard.messages import for_people
from dashboard.safe_text import literal
from engine.data.types import DatasetError

COLUMNS = 4
SOURCES = {"upload": "Upload images or a zip", "unlabeled": "This dataset's unlabeled images"}
RESULT, MESSAGE = "score_result", "score_message"


def pick_anomalous(scoring: score_view.Scoring) -> None:
    for i, card in enumerate(scoring.cards):
        st.session_state[f"score_pick_{scoring.key}_{i}"] = card.anomalous


def send(scoring: score_view.Scoring, picked: list[score_view.Card]) -> None:
    if (author := sidebar.user()) is None or not auth.require("label"):
        return  # a refused name: the sidebar says why
    try:
        sent = score_view.send_to_label(scoring, picked, author, app_store())
    except (ValueError, DatasetError) as exc:
        st.session_state[MESSAGE] = ("error", [literal(for_people(str(exc)))])
        return
    cache.clear_dataset_caches()
    label_suggest.method_scores.clear()
    for i in range(len(scoring.cards)):
        st.session_state[f"score_pick_{scoring.key}_{i}"] = False  # sent: unpicked, so not sent twice
    lines = [
        f"Sent {sent.added} image(s) to the Label page as unlabeled test images of {literal(scoring.dataset)}"
        + (f" ({sent.already} were there already)" if sent.already else "")
        + f", each with a note of its score by {scoring.label}. Find them there under Only unlabeled."
    ]
    st.session_state[MESSAGE] = ("success", lines + [literal(line) for line in sent.skipped])


st.title("Score new images")
store = app_store()
dataset = selection.dataset_in_view()
if not dataset:
    st.stop()
runs = score_view.model_runs(results_cache.finished_runs(dataset))
if not runs:
    st.info(f"No finished runs on {literal(dataset)} to score with yet: train one on the Train page.")
    st.stop()
by_id = {run.id: run for run in runs}
default, why = score_view.default_run(runs, model_cache.champion(dataset))
run_key = f"score_run_{dataset}"
if st.session_state.get(run_key) not in by_id:
    st.session_state[run_key] = default
run_id = st.selectbox(
    "Run",
    list(by_id),
    format_func=lambda i: by_id[i].description,
    key=run_key,
    help="The run whose model scores the images: rebuilt from its model file, nothing is retrained",
)
st.caption(f"Default: {by_id[default].label}, {why}.")

source = st.radio("Images", list(SOURCES), format_func=SOURCES.get, horizontal=True, key="score_source")
files = []
if source == "upload":
    files = st.file_uploader(
        f"Images or a .zip of images (at most {score_view.MAX_IMAGES} images; more with python -m engine predict)",
        accept_multiple_files=True,
        key="score_upload",
    )
if st.button(
    "Score",
    key="score_go",
    type="primary",
    icon=":material/troubleshoot:",
    disabled=source == "upload" and not files,
):
    try:
        with st.spinner(f"Scoring with {by_id[run_id].label}..."):
            if source == "upload":
                scoring = score_view.score_uploads(dataset, run_id, [(f.name, f.getvalue()) for f in files])
            else:
                scoring = score_view.score_unlabeled(dataset, run_id, store)
    except (ValueError, DatasetError) as exc:  # ModelUnavailable and TooManyImages are ValueErrors
        st.error(literal(for_people(str(exc))), icon=":material/error:")
    else:
        st.session_state[RESULT] = scoring
        st.session_state.pop(MESSAGE, None)

scoring = st.session_state.get(RESULT)
if scoring is None or scoring.dataset != dataset:
    st.stop()
kind, lines = st.session_state.get(MESSAGE, (None, []))
for i, line in enumerate(lines):
    (st.error if kind == "error" else st.success if i == 0 else st.warning)(line)

n_bad = len(scoring.bad)
st.subheader(f"{len(scoring.cards)} image(s) scored by {scoring.label}")
st.caption(
    f"Highest score first. Scores are normalised against the run's normal training images (0.50: the highest of "
    f"them); an image is called anomalous above the run's threshold ({scoring.threshold_normalized:.2f})."
    + (f" {n_bad} file(s) could not be scored (below)." if n_bad else "")
)
legend = pictures.heat(np.tile(np.linspace(0.0, 1.0, 256), (8, 1)))  # (8, 256, 3)
st.image(
    pictures.png_bytes(legend),
    caption="Map colours: dark = low, bright yellow = high, on the run's own map range",
    width=256,
)

picked = []
for start in range(0, len(scoring.cards), COLUMNS):
    for column, (i, card) in zip(
        st.columns(COLUMNS), enumerate(scoring.cards[start : start + COLUMNS], start), strict=False
    ):
        with column:
            st.image(card.overlay, caption=literal(card.name), width="stretch")
            mark = ":red[**anomalous**]" if card.anomalous else "normal"
            st.markdown(f"score **{card.score_normalized:.2f}** · {mark}")
            if st.checkbox("Pick", key=f"score_pick_{scoring.key}_{i}"):
                picked.append(card)
for line in scoring.bad:
    st.warning(literal(line), icon=":material/broken_image:")

left, right = st.columns(2)
left.button("Pick the anomalous ones", key="score_pick_anomalous", on_click=pick_anomalous, args=(scoring,))
right.button(
    f"Send {len(picked)} picked image(s) to the Label page",
    key="score_send",
    type="primary",
    icon=":material/label:",
    disabled=not picked,
    on_click=send,
    args=(scoring, picked),
    help="Adds them to the dataset's test split, unlabeled, with a note of their score on each",
)
