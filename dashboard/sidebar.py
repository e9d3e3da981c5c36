"""The sidebar shared by every page: who is working (for label history and comments) and the dataset.

With accounts (dashboard.auth), who is working is the signed-in account: the sidebar shows its name and a
Sign out button. Without (one person on 127.0.0.1), it is the name typed here; a name too long for the store
is refused, and the page stops until it is shortened: nothing is done in that name (button callbacks, which
run before the sidebar, ask `user()` and do nothing either)."""

from __future__ import annotations

import streamlit as st

from dashboard import auth, cache
from db.models import MAX_USER_NAME_CHARS

SELECT_NEXT = "sidebar_select_next"


def select_dataset(name: str) -> None:
    """Show `name` in the dataset picker from the next script run on (e.g. right after importing it)."""
    st.session_state[SELECT_NEXT] = name


def user() -> str | None:
    """Who is working: the signed-in account's name; without accounts, the name typed in the sidebar,
    stripped ('anonymous' when empty). None when nobody is signed in (or the sign-in ended) and while a
    typed name is longer than the store keeps (MAX_USER_NAME_CHARS), so nothing is recorded in it."""
    who = auth.current()
    if who is None:
        return None
    return who.name if len(who.name) <= MAX_USER_NAME_CHARS else None


def needs_name() -> bool:
    """True while nobody is signed in and no name is typed in the sidebar (e.g. a new tab on a bare page URL):
    the Label page asks for one before labeling, rather than record 'anonymous'."""
    who = auth.current()
    return who is not None and who.local and not (st.session_state.get("user") or "").strip()


def render() -> None:
    """The name and dataset pickers; stops the page (after one sentence) while the name is refused."""
    with st.sidebar:
        who = auth.current()
        if who is not None and not who.local:
            auth.sidebar_account(who)
            refused = False
        else:
            st.session_state.setdefault("user", "")  # asked for, not assumed: see needs_name()
            st.text_input(
                "Your name", key="user", placeholder="e.g. Ann", help="Recorded with labels and comments"
            )
            refused = user() is None
        if refused:
            st.error(
                f"Your name is {len(st.session_state['user'].strip())} characters long; shorten it to at most "
                f"{MAX_USER_NAME_CHARS} to go on labeling, commenting or training."
            )
        names = cache.dataset_names()
        if names:
            chosen = st.session_state.pop(SELECT_NEXT, None)
            if chosen in names:
                st.session_state["dataset"] = chosen
            elif st.session_state.get("dataset") not in names:  # none yet, or one deleted meanwhile
                st.session_state["dataset"] = names[0]
            st.selectbox("Dataset", names, key="dataset")
    if refused:
        st.stop()
