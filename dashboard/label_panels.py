"""Widgets and button callbacks of the Label page (kept here so the page file stays a short script)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from dashboard import auth, cache, labeling, sidebar
from dashboard.safe_text import literal
from db import labels
from db.labels import LabelState, SaveResult
from db.store import Store
from engine.data.masks import overlay
from engine.data.types import DatasetError

NEW_TYPE = "(new type...)"
LAST_SAVE = "label_last_save"  # (image id, version it was shown at) of this session's latest save
EARLY_PRESS = "That key press came before the next image was shown, so nothing was saved; press it again now."
POSITION_PARAM = "image"  # the URL's query parameter naming the image shown, so a reload comes back to it
POSITION_RESTORED = "label_position_restored"


def chosen_defect() -> str:
    choice = st.session_state.get("defect_choice")
    return (st.session_state.get("defect_new") or "").strip() if choice in (None, NEW_TYPE) else choice


def pinned(dataset_id: int) -> LabelState | None:
    """The image this session was shown, as it was shown (saves build on its version), until it moves on."""
    pin = st.session_state.get("label_pinned")
    return pin[1] if pin and pin[0] == dataset_id else None


def pin(dataset_id: int, state: LabelState | None) -> None:
    st.session_state["label_pinned"] = (dataset_id, state) if state else None


def unpin() -> None:
    """After navigation and finished saves: the next run shows (and pins) a fresh state."""
    st.session_state["label_pinned"] = None


def filters_changed() -> None:
    """Callback of the filters: another queue, so start at its first image."""
    unpin()
    st.session_state["label_index"] = 0
    st.session_state["label_conflict"] = None


def same_queue(where: tuple) -> None:
    """Start at the first image when the dataset or a filter differs from the one the position was for
    (e.g. filters restored from the URL, or another dataset picked in the sidebar)."""
    if st.session_state.get("label_index_for") != where:
        filters_changed()
        st.session_state["label_index_for"] = where


def restore_position(queue: list[LabelState]) -> None:
    """Once per session (a reload, or a link someone sent): show the image the URL names, if the filters
    leave it in. Call after `same_queue`."""
    if st.session_state.get(POSITION_RESTORED):
        return
    st.session_state[POSITION_RESTORED] = True
    wanted = st.query_params.get(POSITION_PARAM)
    where = labeling.position_of(queue, wanted) if wanted else None
    if where is not None:
        st.session_state["label_index"] = where


def remember_position(state: LabelState | None) -> None:
    """Name the image shown in the URL (`?image=test/good/095.png`), for a reload to come back to it."""
    if state is None:
        if POSITION_PARAM in st.query_params:
            del st.query_params[POSITION_PARAM]
    elif st.query_params.get(POSITION_PARAM) != state.relpath:
        st.query_params[POSITION_PARAM] = state.relpath


def _after(outcome: SaveResult | labeling.Conflict, advance: bool) -> None:
    if isinstance(outcome, labeling.Conflict):
        st.session_state["label_conflict"] = outcome
        st.session_state["label_message"] = None
        return  # the image stays pinned at the version shown until the person chooses
    st.session_state["label_conflict"] = None
    unpin()
    if outcome.saved:
        state = outcome.state
        who = f" by {literal(state.labeled_by)}" if state.labeled_by else ""
        text = f"Saved {literal(state.relpath)}: {literal(state.text)} (version {state.version}{who})"
        st.session_state["label_message"] = ("success", text)
        if st.session_state.get("defect_choice") == NEW_TYPE and outcome.state.defect_type:
            # the new type is now a known one: keep it picked for the next images, and empty the text box
            st.session_state["defect_choice"] = outcome.state.defect_type
            st.session_state["defect_new"] = ""
        if advance:
            st.session_state["label_index"] = st.session_state.get("label_index", 0) + 1
    else:
        st.session_state["label_message"] = ("info", f"Kept the other label: {literal(outcome.state.text)}")
    st.session_state["label_nonce"] = st.session_state.get("label_nonce", 0) + 1
    cache.clear_dataset_caches()


def apply_label(
    state: LabelState, label: int | None, root: str, size: tuple[int, int], advance: bool, store: Store
) -> None:
    """Button callback: save `label` on top of the version this page showed (`state.version`). A key pressed
    again before the next image was shown saves nothing and says so (it would save an image not yet seen, or
    the one just saved, as a conflict with oneself)."""
    if (author := sidebar.user()) is None or sidebar.needs_name() or not auth.require("label"):
        return  # a refused or missing name: the page says why
    shown = st.session_state.get("label_pinned")
    if labeling.early_press(state, shown[1] if shown else None, st.session_state.get(LAST_SAVE)):
        st.session_state["label_message"] = ("info", EARLY_PRESS)
        return
    image_id, strokes = st.session_state.get("label_strokes", (None, None))
    strokes = strokes if image_id == state.image_id else None
    try:
        change = labeling.prepare(Path(root), state, label, chosen_defect(), strokes, size)
    except DatasetError as exc:
        st.session_state["label_message"] = ("error", literal(exc))
        return
    outcome = labeling.save(change, state.version, author, store)
    if not isinstance(outcome, labeling.Conflict) and outcome.saved:
        st.session_state[LAST_SAVE] = (state.image_id, state.version)
    _after(outcome, advance)


def resolve(keep_mine: bool, root: str, store: Store) -> None:
    conflict = st.session_state.get("label_conflict")
    if conflict is not None and (author := sidebar.user()) is not None and auth.require("label"):
        _after(labeling.resolve(conflict, keep_mine, author, Path(root), store), advance=False)


def move(step: int, count: int) -> None:
    st.session_state["label_index"] = (st.session_state.get("label_index", 0) + step) % max(count, 1)
    unpin()
    st.session_state["label_conflict"] = None
    st.session_state["label_message"] = None


def jump(names: list[str]) -> None:
    """Callback of "Jump to": show the image picked by name; Previous and Next then go on from it."""
    name = st.session_state.get("label_jump")
    if name in names:
        move(names.index(name) - st.session_state.get("label_index", 0), len(names))
    st.session_state["label_jump"] = None


def show_message() -> None:
    message = st.session_state.get("label_message")
    if message:
        kind, text = message
        {"success": st.success, "error": st.error, "info": st.info}[kind](text)


def changed_meanwhile(state: LabelState, store: Store) -> None:
    """A note when someone saved this image since it was shown (a save then shows both labels to choose)."""
    if st.session_state.get("label_conflict") is not None:
        return  # the conflict panel says it all
    try:
        now = labels.label_state(store, state.image_id)
    except KeyError:
        return
    if now.version != state.version:
        st.info(
            f"{literal(now.labeled_by or 'Someone')} changed this image to **{literal(now.text)}** "
            f"(version {now.version}) "
            "since it was shown to you; saving shows both labels to choose from.",
            icon=":material/group:",
        )


def conflict_panel(state: LabelState, root: str, store: Store, pixels, mask_of) -> None:
    """Who changed the image meanwhile, both values side by side, and the choice between them."""
    conflict: labeling.Conflict | None = st.session_state.get("label_conflict")
    if conflict is None or conflict.mine.image_id != state.image_id:
        return
    theirs = conflict.theirs
    when = theirs.labeled_at.strftime("%Y-%m-%d %H:%M:%S") if theirs.labeled_at else "?"
    st.warning(
        f"**Conflict:** {literal(theirs.labeled_by or 'someone')} changed this image at {when} UTC to "
        f"**{literal(theirs.text)}** (version {theirs.version}) while you were looking at version "
        f"{conflict.shown_version}. Yours: **{literal(conflict.mine.text)}**. Nothing was overwritten; "
        "choose one.",
        icon=":material/warning:",
    )
    left, right = st.columns(2)
    left.image(
        overlay(pixels, mask_of(theirs.mask_relpath)),
        caption=f"theirs: {literal(theirs.text)}",
        width="stretch",
    )
    right.image(
        overlay(pixels, mask_of(conflict.mine.mask_relpath)),
        caption=f"yours: {literal(conflict.mine.text)}",
        width="stretch",
    )
    a, b = st.columns(2)
    a.button("Keep theirs", key="keep_theirs", on_click=resolve, args=(False, root, store), width="stretch")
    b.button(
        "Use mine",
        key="use_mine",
        type="primary",
        on_click=resolve,
        args=(True, root, store),
        width="stretch",
    )


def label_buttons(
    state: LabelState, root: str, size: tuple[int, int], advance: bool, store: Store, dataset_id: int
) -> None:
    """Defect type picker and the label buttons with their keyboard shortcuts."""
    known = labels.defect_types(store, dataset_id)
    options = [*known, NEW_TYPE]
    default = (
        options.index(state.defect_type) if state.defect_type in known else (0 if known else len(options) - 1)
    )
    if st.session_state.get("defect_choice") not in options:  # first visit, or another dataset's type
        st.session_state["defect_choice"] = options[default]
    st.selectbox("Defect type", options, key="defect_choice")
    if st.session_state.get("defect_choice") == NEW_TYPE:
        st.text_input("New defect type", key="defect_new", placeholder="e.g. scratch")
    args = (root, size, advance, store)
    a, b = st.columns(2)  # two to a row: three do not fit "Anomalous" beside the canvas on a laptop
    a.button(
        "Normal",
        key="label_normal",
        shortcut="N",
        icon=":material/check_circle:",
        on_click=apply_label,
        args=(state, 0, *args),
        width="stretch",
    )
    b.button(
        "Anomalous",
        key="label_anomalous",
        shortcut="A",
        type="primary",
        icon=":material/report:",
        on_click=apply_label,
        args=(state, 1, *args),
        width="stretch",
    )
    st.button(
        "Unlabeled",
        key="label_none",
        shortcut="U",
        on_click=apply_label,
        args=(state, None, *args),
    )
    st.caption(
        "Keys: **N** normal, **A** anomalous (saves the drawn mask), **U** unlabeled, **←/→** previous/next."
    )


def history(image_id: int, store: Store) -> None:
    events = labels.label_history(store, image_id)
    with st.expander(f"History ({len(events)} change(s))"):
        rows = [
            (
                e.created_at.strftime("%Y-%m-%d %H:%M:%S"),
                e.author,
                {0: "normal", 1: "anomalous"}.get(e.label, "unlabeled"),
                e.defect_type or "",
                e.version,
            )
            for e in events
        ]
        st.dataframe(
            pd.DataFrame(rows, columns=["when (UTC)", "who", "label", "defect type", "version"]),
            hide_index=True,
        )
