"""The Label page's keys: N, A, U, ← and → press the buttons of those shortcuts wherever the focus is, except in
a text field being typed in (and arrows on a focused slider or radio group, which they move). Streamlit's own
shortcuts skip every key pressed while an input has the focus, so after choosing a defect type, a brush or a
filter (radio buttons, toggles and pickers are inputs) N and A did nothing until one clicked elsewhere. This
listener, on the page's window before Streamlit's, presses the button itself; Streamlit's shortcuts remain
where it is not loaded yet."""

from __future__ import annotations

import streamlit as st

# key (KeyboardEvent.key, letters lower-case) -> the widget key of the button it presses
KEYS = {
    "n": "label_normal",
    "a": "label_anomalous",
    "u": "label_none",
    "ArrowLeft": "prev",
    "ArrowRight": "next",
}

_JS = """
function typing(element) {
  if (!element || !element.tagName) return false;
  if (element.isContentEditable) return true;
  if (element.tagName === "TEXTAREA" || element.tagName === "SELECT") return true;
  if (element.tagName !== "INPUT") return false;
  if (element.getAttribute("role") === "combobox") return element.getAttribute("aria-expanded") === "true";
  return !["checkbox", "radio", "range", "button", "file", "reset", "submit", "color"].includes(element.type);
}

function moves(element) {  // arrows move a focused slider or radio group: theirs, not Previous / Next
  if (!element || !element.getAttribute) return false;
  return element.getAttribute("role") === "slider" || element.type === "range" || element.type === "radio";
}

export default function ({ data, parentElement }) {
  const previous = window.__workbenchLabelKeys;
  if (previous) window.removeEventListener("keydown", previous, true);
  const onKey = (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey || event.isComposing) return;
    const key = event.key.length === 1 ? event.key.toLowerCase() : event.key;
    const target = data.keys[key];
    const element = event.composedPath()[0];
    if (!target || typing(element) || (key.startsWith("Arrow") && moves(element))) return;
    if (!document.querySelector(".st-key-label_normal")) return;  // not on the Label page (any more)
    const button = document.querySelector(`.st-key-${target} button`);
    if (!button || button.disabled) return;
    event.preventDefault();
    event.stopImmediatePropagation();
    if (event.repeat) return;  // a held key presses once
    const focused = document.activeElement;
    if (focused && focused !== document.body && typeof focused.blur === "function") focused.blur();
    button.click();
  };
  window.__workbenchLabelKeys = onKey;
  window.addEventListener("keydown", onKey, true);
  return () => {
    window.removeEventListener("keydown", onKey, true);
    if (window.__workbenchLabelKeys === onKey) delete window.__workbenchLabelKeys;
  };
}
"""

_listener = st.components.v2.component("workbench_label_keys", js=_JS)


def listen() -> None:
    """Mount the listener (once per page run; it draws nothing)."""
    _listener(data={"keys": KEYS}, key="label_keys")
