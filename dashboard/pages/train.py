"""Train: the queue first (a worker runs it), then pick a dataset, methods and a preset, adjust parameters,
enqueue."""

import time

import streamlit as st

from dashboard import auth, cache, params_form, train_estimates, train_panels
from dashboard.cache import app_store
from dashboard.messages import for_people
from dashboard.safe_text import literal
from db import datasets as db_datasets
from db import labels
from engine import jobs
from engine.methods import METHODS
from engine.methods.catalog import DESCRIPTIONS
from engine.methods.params import PRESETS
from engine.runconfig import RunConfig

SIZES = ["dataset default", 32, 64, 128, 256]
PRESET_HELP = "smoke: seconds (tests); cpu: minutes on a laptop; paper: the paper's settings (GPU)"

store = app_store()
st.title("Train")
try:
    executor = cache.executor(store)
except ValueError as exc:  # e.g. WORKBENCH_EXECUTOR=ray without RAY_ADDRESS: one sentence says what to start
    st.error(str(exc))
    st.stop()


@st.fragment(run_every=2)
def queue() -> None:
    shown = st.session_state.get("train_dataset") or st.session_state.get("dataset")
    train_panels.queue_panel(executor, store, shown, time.monotonic())


st.subheader("Queue")
queue()
st.subheader("New jobs")

names = cache.dataset_names()
current = st.session_state.get("dataset")
c1, c2 = st.columns([2, 1])
dataset = c1.selectbox(
    "Dataset", names, index=names.index(current) if current in names else 0, key="train_dataset"
)
preset = c2.radio(
    "Preset", PRESETS, index=PRESETS.index("cpu"), horizontal=True, key="train_preset", help=PRESET_HELP
)
methods = st.multiselect(
    "Methods",
    list(METHODS),
    key="train_methods",
    placeholder="Choose one or more methods",
    help="\n".join(f"- **{key}**: {text}" for key, text in DESCRIPTIONS.items()),
)
c3, c4 = st.columns(2)
size = c3.selectbox("Image size (px)", SIZES, key="train_size")
seeds_text = c4.text_input(
    "Seeds",
    "0",
    key="train_seeds",
    help="One seed, or several separated by commas: a job per method and seed",
)
seeds, seeds_error = params_form.parse_seeds(seeds_text)

record = db_datasets.get_dataset(store, dataset) if dataset else None
train_estimates.method_lines(methods, preset, dataset, record.id if record else None, store)
labeled = labels.labeled_anomalies(store, record.id) if record else []
semi = [m for m in methods if getattr(METHODS[m], "uses_labeled_anomalies", False)]
sources = ["none", f"the {len(labeled)} labeled on the Label page", "random test anomalies"]

with st.form("enqueue"):
    values = {}
    for method in methods:
        with st.expander(f"{method} parameters ({preset} preset)"):
            values[method] = params_form.render(METHODS[method], preset, key=f"params-{method}")
    source, n_random = sources[0], 0
    if semi:
        st.markdown(f"**Labeled anomalies** for {', '.join(semi)} (set `mode` to `semi` where there is one):")
        source = st.radio("Learn from", sources, horizontal=True, key="train_labeled_source")
        n_random = int(st.number_input("How many random test anomalies", 1, 500, 5, key="train_n_random"))
        st.caption("Images a run learns from are recorded with it and left out of its evaluation.")
    submitted = st.form_submit_button(
        f"Enqueue {len(methods) * max(len(seeds), 1)} job(s)", type="primary", icon=":material/play_arrow:"
    )

if submitted and auth.require("train"):
    if not methods:
        st.warning("Choose at least one method.")
    configs, errors = [], [seeds_error] if seeds_error else []
    for method in methods:
        try:
            overrides = params_form.overrides(METHODS[method], preset, values.get(method, {}))
        except ValueError as exc:
            errors.append(f"{method}: {exc}")
            continue
        learns = method in semi
        configs.extend(
            RunConfig(
                dataset=dataset,
                method=method,
                preset=preset,
                overrides=overrides,
                image_size=None if size == SIZES[0] else int(size),
                seed=seed,
                labeled_anomalies=tuple(labeled) if learns and source == sources[1] else (),
                n_labeled_anomalies=n_random if learns and source == sources[2] else 0,
                user=st.session_state.get("user", ""),
            )
            for seed in seeds
        )
    for error in errors:
        st.error(literal(error), icon=":material/error:")
    if configs and not errors:
        if source == sources[1] and not labeled:
            st.warning(
                "No anomalies are labeled on the Label page for this dataset; the runs learn from none."
            )
        ids = []
        for config in configs:
            try:
                ids.append(jobs.enqueue(config, store=store))
            except ValueError as exc:  # out of range or too big for this machine: checked before queuing
                st.error(f"{config.method}: {literal(for_people(str(exc)))}", icon=":material/error:")
        if ids:
            started = executor.ensure_running()
            st.success(
                f"Queued job(s) {', '.join(f'#{i}' for i in ids)}"
                + ("; started a worker." if started else ".")
            )
