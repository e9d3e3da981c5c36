"""Who is working in the dashboard, and what they may do.

- No accounts in the results store and the app listening on this machine only (127.0.0.1, localhost): no
  sign-in, the name typed in the sidebar is recorded (one person at their own computer).
- No accounts and any other address: nothing is served but one sentence saying how to create the first admin.
- Accounts: a sign-in form (name and password, or the identity provider of `.streamlit/secrets.toml`'s
  [auth] through `st.login`) comes before any page. A sign-in lasts SESSION_HOURS at most; a disabled account
  or a changed role takes effect at its next action, because every check reads the account again.

Roles: ACTIONS says which role may do what. `require(action)` is the check at an action's site: it shows one
sentence and returns False when the person working may not, so the action changes nothing."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import streamlit as st

from dashboard.cache import app_store
from dashboard.safe_text import literal
from db import accounts
from db.models import MAX_USER_NAME_CHARS
from db.store import Store

SESSION_HOURS = 12
LOCAL_ADDRESSES = frozenset({"127.0.0.1", "localhost", "::1"})
EVERYONE = ("admin", "member", "viewer")
ACTIONS = {  # action -> the roles that may do it, and what it is in a refusal
    "accounts": (("admin",), "manage accounts"),
    "delete": (("admin",), "delete datasets or runs"),
    "import": (("admin", "member"), "import images"),
    "label": (("admin", "member"), "label images"),
    "train": (("admin", "member"), "train or cancel models"),
    "champion": (("admin", "member"), "make a run the champion"),
    "comment": (EVERYONE, "comment"),
}
SESSION = "_auth_session"  # {"name", "since" (epoch seconds), "via": "password" | "provider"}
NOTICE = "_auth_notice"  # why the last sign-in ended, shown once above the sign-in form
NOT_SIGNED_IN = "You are not signed in (or your sign-in ended): sign in again; nothing was changed."


@dataclass(frozen=True)
class Who:
    name: str
    role: str
    local: bool  # the unsigned local user of a store without accounts (name from the sidebar)


def address() -> str | None:
    return st.get_option("server.address")


def local_only() -> bool:
    """Whether the app listens on this machine only (an unset address means every interface)."""
    return (address() or "").strip("[]") in LOCAL_ADDRESSES


def providers() -> list[str | None]:
    """The identity providers configured in secrets.toml's [auth] (None: its unnamed default); [] without."""
    try:
        section = st.secrets.get("auth")
    except Exception:  # no secrets.toml at all
        return []
    if not isinstance(section, Mapping):
        return []
    named = [key for key, value in section.items() if isinstance(value, Mapping) and "client_id" in value]
    return named or ([None] if "client_id" in section else [])


def _end(notice: str) -> None:
    st.session_state.pop(SESSION, None)
    st.session_state[NOTICE] = notice


def _expired(since: float) -> bool:
    return time.time() - since > SESSION_HOURS * 3600


def _from_provider(store: Store) -> Who | None:
    """The account of the person the identity provider signed in (their e-mail is the account's name)."""
    user = st.user
    identity = user.get("email") or ""  # not a display or user name: anyone may pick those at some providers
    if user.get("email_verified") is False:
        _end(f"The identity provider has not verified the e-mail {identity}; it cannot sign in here.")
        return None
    since = float(user.get("iat") or st.session_state.get(SESSION, {}).get("since") or time.time())
    if _expired(since):
        _end(f"Your sign-in ended after {SESSION_HOURS} hours; sign out and sign in again.")
        return None
    row = accounts.find_by_identity(store, identity) if identity else None
    if row is None or row.disabled:
        what = "is disabled" if row else "has no account here"
        _end(
            f"{identity or 'This identity'} {what}; an admin can add it with `python -m engine users add EMAIL --role viewer --no-password`."
        )
        return None
    session = st.session_state.get(SESSION)
    if not session or session.get("name") != row.name:
        accounts.touch(store, row.name)
        st.session_state[SESSION] = {"name": row.name, "since": since, "via": "provider"}
    return Who(row.name, row.role, local=False)


def _signed_in(store: Store) -> Who | None:
    if providers() and st.user.get("is_logged_in"):
        return _from_provider(store)
    session = st.session_state.get(SESSION)
    if not session or session.get("via") != "password":
        return None
    if _expired(session["since"]):
        _end(f"Your sign-in ended after {SESSION_HOURS} hours; sign in again.")
        return None
    row = accounts.get_account(store, session["name"])
    if row is None or row.disabled:
        _end("This account was disabled by an admin; nothing more is done in its name.")
        return None
    return Who(row.name, row.role, local=False)


def current(store: Store | None = None) -> Who | None:
    """Who is working now (read from the store on every call); None when nobody may work in this session."""
    store = store or app_store()
    if not accounts.any_accounts(store):
        if not local_only():
            return None
        name = (st.session_state.get("user") or "").strip() or "anonymous"
        return Who(name, "admin", local=True)
    return _signed_in(store)


def require(action: str, author: str | None = None) -> bool:
    """True when the person working may do `action` (and, given `author`, is that author); otherwise one
    sentence on the page and False, so the caller changes nothing."""
    who = current()
    if who is None:
        st.warning(NOT_SIGNED_IN, icon=":material/lock:")
        return False
    roles, what = ACTIONS[action]
    if who.role not in roles:
        st.warning(f"A {who.role} may not {what}; nothing was changed (an admin can change your role).")
        return False
    if author is not None and author != who.name:
        st.warning(f"Only {author} can change what {author} wrote; nothing was changed.")
        return False
    return True


def guarded(action: str, callback: Callable[..., Any]) -> Callable[..., Any]:
    """`callback` that runs only when `require(action)` lets it (for a button's on_click)."""

    def run(*args: Any, **kwargs: Any) -> Any:
        return callback(*args, **kwargs) if require(action) else None

    return run


def sign_out() -> None:
    """Button callback: end this session's sign-in (and the identity provider's cookie)."""
    via = (st.session_state.pop(SESSION, None) or {}).get("via")
    st.session_state.pop("user", None)
    if via == "provider" or (providers() and st.user.get("is_logged_in")):
        st.logout()


def _sign_in_form(store: Store) -> None:
    st.title("Anomaly Workbench")
    notice = st.session_state.pop(NOTICE, None)
    if notice:
        st.warning(notice, icon=":material/lock:")
        if providers() and st.user.get("is_logged_in"):
            st.button("Sign out", key="auth_provider_sign_out", on_click=sign_out)
            return
    with st.form("sign_in"):
        name = st.text_input("Name", key="sign_in_name", max_chars=MAX_USER_NAME_CHARS)
        password = st.text_input("Password", type="password", key="sign_in_password")
        submitted = st.form_submit_button("Sign in", type="primary", icon=":material/login:")
    if submitted:
        try:
            row = accounts.sign_in(store, name, password)
        except accounts.SignInRefused as exc:
            st.error(str(exc), icon=":material/lock:")
        else:
            st.session_state[SESSION] = {"name": row.name, "since": time.time(), "via": "password"}
            st.session_state.pop(NOTICE, None)
            st.rerun()
    for provider in providers():
        if st.button(f"Sign in with {provider or 'your organisation'}", key=f"auth_login_{provider}"):
            st.login(provider)


def _signing_in() -> None:
    """The one page of a signed-out session (drawn by `gate`, never run)."""


def gate() -> None:
    """Before any page: return when someone may work (setting the session's "user" to the signed-in name,
    which every page records), else show the sign-in form, or the one sentence of a refused start, and stop."""
    store = app_store()
    if not accounts.any_accounts(store) and not local_only():
        where = address() or "every network interface"
        st.error(
            f"This dashboard listens on {where} but the results store has no accounts, so it serves nobody: "
            "create the first admin with `python -m engine users add NAME --role admin`, then reload."
        )
        st.stop()
    who = current(store)
    if who is None:
        # no pages while signed out: after a Sign out the browser would still list the last run's pages
        st.navigation([st.Page(_signing_in, title="Sign in", default=True)], position="hidden")
        _sign_in_form(store)
        st.stop()
    if not who.local:
        st.session_state["user"] = who.name


def sidebar_account(who: Who) -> None:
    """The signed-in name and role, and Sign out (instead of the free-text name of the local user)."""
    st.markdown(f":material/person: **{literal(who.name)}** · {who.role}")
    st.button("Sign out", key="auth_sign_out", icon=":material/logout:", on_click=sign_out)
