"""Label: step through images, set normal / anomalous / defect type, draw or erase defect masks, export.

Laid out for a 1280x720 screen: one row of navigation (filters and "jump to" in a popover), then the canvas
beside the label buttons and tools, all above the fold; adding images and the export come below."""

from pathlib import Path

import streamlit as st

from dashboard import (
    label_canvas,
    label_files,
    label_keys,
    label_panels,
    label_suggest,
    labeling,
    sidebar,
)
from dashboard.cache import app_store
from dashboard.safe_text import literal
from db import datasets as db_datasets
from engine.data.masks import load_mask

store = app_store()
st.title("Label")
name = st.session_state.get("dataset")
record = db_datasets.get_dataset(store, name) if name else None
if record is None:
    st.info(
        "Pick an imported dataset in the sidebar; built-in sets come labeled. Add one on the Datasets page."
    )
    st.stop()
if sidebar.needs_name():
    st.info(
        "Type your name under **Your name** in the sidebar to start labeling: every label records who set it.",
        icon=":material/badge:",
    )
    st.stop()
root = str(record.root)

prev_col, position_col, next_col, filters_col = st.columns([1.3, 4, 1, 1.4], vertical_alignment="bottom")
changed = label_panels.filters_changed
with filters_col.popover("Filters", icon=":material/filter_list:", width="stretch"):
    split = st.radio("Images", list(labeling.SPLITS), horizontal=True, key="label_split", on_change=changed)
    only_unlabeled = st.toggle("Only unlabeled", key="label_only_unlabeled", on_change=changed)
    order = st.selectbox(
        "Order",
        list(labeling.ORDERS),
        key="label_order",
        help="Suggest next uses the latest finished run of each method",
        on_change=changed,
    )
    scores = label_suggest.method_scores(name, store) if labeling.ORDERS[order] else {}
    queue, suggestions = labeling.image_queue(record.id, split, only_unlabeled, order, scores, store)
    names = [s.relpath for s in queue]
    st.selectbox(
        "Jump to",
        names,
        index=None,
        key="label_jump",
        on_change=label_panels.jump,
        args=(names,),
        placeholder="Type a file name",
        help="The images these filters leave in, by file name",
    )

label_panels.same_queue((record.id, split, only_unlabeled, order))
label_panels.restore_position(queue)
index, state = labeling.shown_image(
    queue, st.session_state.get("label_index", 0), label_panels.pinned(record.id)
)
label_panels.pin(record.id, state)
label_panels.remember_position(state)
run_ids = label_suggest.latest_run_ids(name, record.id, store) if labeling.ORDERS[order] else {}
if state is not None:
    st.session_state["label_index"] = index
    in_queue = index < len(queue) and queue[index].image_id == state.image_id
    prev_col.button(  # ← and → come from label_keys: Streamlit's shortcut would take them from the sliders
        "Previous",
        key="prev",
        help="Key: ←",
        on_click=label_panels.move,
        args=(-1, len(queue)),
        width="stretch",
    )
    position = f"Image {index + 1} of {len(queue)}" if in_queue else "Labeled meanwhile, out of this filter"
    position_col.progress(
        min(index + 1, len(queue)) / max(len(queue), 1), text=f"{position}: {literal(state.relpath)}"
    )
    next_col.button(
        "Next",
        key="next",
        help="Key: →",
        on_click=label_panels.move,
        args=(1, len(queue)),
        width="stretch",
    )

    pixels = label_canvas.read_pixels(root, state.relpath)  # (H, W, 3); None when the file is unreadable
    if pixels is None:
        label_panels.show_message()
        label_panels.history(state.image_id, store)
    else:
        height, width = pixels.shape[:2]

        def mask_of(relpath: str | None):
            return load_mask(Path(root), relpath, height, width)

        left, right = st.columns([3, 2])
        with left:
            label_canvas.draw(state, pixels, mask_of(state.mask_relpath))
        with right:
            label_panels.conflict_panel(state, root, store, pixels, mask_of)
            who = (
                f" by {literal(state.labeled_by)} at {state.labeled_at:%Y-%m-%d %H:%M} UTC"
                if state.labeled_by
                else ""
            )
            st.markdown(f"**Now:** {literal(state.text)} · version {state.version}{who}")
            label_panels.label_buttons(state, root, (height, width), not only_unlabeled, store, record.id)
            label_panels.show_message()
            label_panels.changed_meanwhile(state, store)
            label_canvas.tools()
            if (hint := suggestions.get(state.relpath)) and hint.methods:
                st.markdown(
                    f"**Methods:** mean normalised score {hint.mean:.2f}, spread {hint.spread:.2f} over {hint.methods} method(s)"
                )
            if scores:
                label_suggest.reason(state, suggestions, scores, run_ids, order)
            label_panels.history(state.image_id, store)
else:
    position_col.info("No images match these filters.")
    label_panels.show_message()

if labeling.ORDERS[order] and not scores:
    st.info(
        "No finished runs on this dataset yet, so there is nothing to suggest from; showing file order. "
        "Train a method on the Train page to get suggestions."
    )
elif labeling.ORDERS[order]:
    label_suggest.unscored_panel(queue, suggestions, name, run_ids, store)

st.divider()
label_files.add_images_panel(name, store)
label_files.export_panel(record.name, store)
label_keys.listen()
