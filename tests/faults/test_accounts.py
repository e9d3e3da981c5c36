"""Accounts and roles (issue #29.1) through the real app (AppTest of the router) on a real store: a sign-in
form before any page once accounts exist, the signed-in account recorded by the pages' actions whatever name
the URL or the session claims, and one sentence with nothing changed for a wrong password, a disabled account,
an ended session, a viewer pressing Delete or Normal, and a button pressed without a signed-in session."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import streamlit as st
from streamlit import config as st_config
from streamlit.testing.v1 import AppTest

from dashboard import auth
from db import accounts, labels
from db import datasets as db_datasets
from db.store import Store
from engine.data.importer import import_dataset

PROJECT_ROOT = Path(__file__).resolve().parents[2]
ROUTER = str(PROJECT_ROOT / "streamlit_app.py")
DATASETS_PAGE = "dashboard/pages/datasets.py"
LABEL_PAGE = "dashboard/pages/label.py"
PASSWORDS = {"ann": "ann-is-admin-42", "bob": "bob-labels-a-lot", "val": "val-only-looks"}


@pytest.fixture
def team(workbench_env, toy_folder):
    """A store with dataset `toy` and three accounts: ann (admin), bob (member), val (viewer)."""
    url = workbench_env["WORKBENCH_DB_URL"]
    st.cache_data.clear()  # dataset lists of an earlier test's store
    Store.migrate(url)
    import_dataset(toy_folder, "toy")
    for name, role in (("ann", "admin"), ("bob", "member"), ("val", "viewer")):
        accounts.add_account(Store.at(url), name, role, PASSWORDS[name])
    return url


def _texts(at: AppTest) -> str:
    """Every sentence the page shows (alerts, Markdown, captions, titles), to look for names and refusals."""
    parts = [
        e.value
        for kind in ("error", "warning", "info", "success", "markdown", "caption", "title")
        for e in getattr(at, kind)
    ]
    return "\n".join(str(p) for p in parts)


def _sign_in(at: AppTest, name: str, password: str) -> AppTest:
    at.text_input(key="sign_in_name").input(name)
    at.text_input(key="sign_in_password").input(password)
    [button] = [b for b in at.button if b.label == "Sign in"]
    return button.click().run()


def _app(**query) -> AppTest:
    at = AppTest.from_file(ROUTER, default_timeout=60)
    for key, value in query.items():
        at.query_params[key] = value
    return at.run()


def test_no_accounts_on_127_0_0_1_opens_as_today_and_any_other_address_refuses(workbench_env, monkeypatch):
    Store.migrate(workbench_env["WORKBENCH_DB_URL"])
    at = _app()
    assert not at.exception and at.sidebar.text_input(key="user")  # the free-text name, no sign-in
    assert not [t for t in at.text_input if t.key == "sign_in_password"]

    previous = st_config.get_option("server.address")
    st_config.set_option("server.address", "0.0.0.0")
    try:
        at = _app()
    finally:
        st_config.set_option("server.address", previous)
    assert not at.exception
    [refusal] = at.error
    assert (
        "listens on 0.0.0.0" in refusal.value
        and "python -m engine users add NAME --role admin" in refusal.value
    )
    assert not at.text_input and not at.button and not at.sidebar.text_input  # nothing else is served


def test_the_sign_in_form_comes_first_and_a_wrong_password_changes_nothing(team):
    at = _app()
    assert not at.exception
    assert [t.label for t in at.text_input] == ["Name", "Password"] and not at.sidebar.text_input
    assert "Datasets" not in _texts(at)  # no page before signing in

    at = _sign_in(at, "ann", "not-her-password")
    assert [e.value for e in at.error] == [accounts.WRONG]
    at = _sign_in(at, "nobody", "whatever-password")
    assert [e.value for e in at.error] == [accounts.WRONG]  # the same words: the form does not say who exists
    assert accounts.get_account(Store.at(team), "ann").last_sign_in_at is None

    at = _sign_in(at, "ann", PASSWORDS["ann"])
    assert not at.exception and not at.error
    assert "Datasets" in _texts(at) and "**ann** · admin" in _texts(at)
    assert [b.label for b in at.sidebar.button] == ["Sign out"] and not at.sidebar.text_input
    assert at.session_state["user"] == "ann"
    assert accounts.get_account(Store.at(team), "ann").last_sign_in_at is not None

    at.sidebar.button(key="auth_sign_out").click().run()
    assert [t.label for t in at.text_input] == ["Name", "Password"] and "Datasets" not in _texts(at)


def test_a_disabled_account_and_an_ended_session_stop_at_the_next_action(team):
    at = _sign_in(_app(), "bob", PASSWORDS["bob"])
    assert "**bob** · member" in _texts(at)
    accounts.set_disabled(Store.at(team), "bob", True)
    at.run()
    assert [w.value for w in at.warning] == [
        "This account was disabled by an admin; nothing more is done in its name."
    ]
    assert "Datasets" not in _texts(at)
    at = _sign_in(at, "bob", PASSWORDS["bob"])
    assert [e.value for e in at.error] == ["This account is disabled; ask an admin to enable it."]

    at = _sign_in(_app(), "ann", PASSWORDS["ann"])
    at.session_state[auth.SESSION] = {**at.session_state[auth.SESSION], "since": time.time() - 13 * 3600}
    at.run()
    assert [w.value for w in at.warning] == [
        f"Your sign-in ended after {auth.SESSION_HOURS} hours; sign in again."
    ]
    assert "Datasets" not in _texts(at)


def _delete_toy(at: AppTest) -> AppTest:
    at.switch_page(DATASETS_PAGE).run()
    at.selectbox(key="delete_name").select("toy")
    at.text_input(key="delete_confirm").input("toy").run()
    return at.button(key="delete_button").click().run()


def test_a_viewer_pressing_delete_and_a_forged_press_change_nothing(team):
    at = _delete_toy(_sign_in(_app(), "val", PASSWORDS["val"]))
    assert not at.exception
    assert "A viewer may not delete datasets or runs; nothing was changed" in _texts(at)
    assert db_datasets.get_dataset(Store.at(team), "toy") is not None

    # the admin's page with the Delete button drawn, then the sign-in gone (a session that never signed in,
    # or one ended on the server) and the button pressed: the press reaches no page
    at = _sign_in(_app(), "ann", PASSWORDS["ann"])
    at.switch_page(DATASETS_PAGE).run()
    at.selectbox(key="delete_name").select("toy")
    at.text_input(key="delete_confirm").input("toy").run()
    del at.session_state[auth.SESSION]
    at.button(key="delete_button").click().run()
    assert not at.exception
    assert db_datasets.get_dataset(Store.at(team), "toy") is not None
    assert [t.label for t in at.text_input] == ["Name", "Password"]

    at = _delete_toy(_sign_in(_app(), "ann", PASSWORDS["ann"]))  # an admin may
    assert not at.exception and db_datasets.get_dataset(Store.at(team), "toy") is None


def _label_page(at: AppTest) -> AppTest:
    at.session_state["dataset"] = "toy"
    return at.switch_page(LABEL_PAGE).run()


def test_labels_are_recorded_in_the_signed_in_name_whatever_the_url_says_and_viewers_label_nothing(team):
    at = _label_page(_sign_in(_app(user="ann"), "bob", PASSWORDS["bob"]))  # a link that names someone else
    assert not at.exception and at.session_state["user"] == "bob"
    shown = at.session_state["label_pinned"][1]
    at.button(key="label_normal").click().run()
    assert not at.exception
    assert labels.label_state(Store.at(team), shown.image_id).labeled_by == "bob"

    at = _label_page(_sign_in(_app(), "val", PASSWORDS["val"]))
    shown = labels.label_state(Store.at(team), at.session_state["label_pinned"][1].image_id)
    at.button(key="label_anomalous").click().run()
    assert not at.exception
    assert "A viewer may not label images; nothing was changed" in _texts(at)
    assert labels.label_state(Store.at(team), shown.image_id) == shown


OIDC = {
    "auth": {
        "redirect_uri": "http://localhost:8501/oauth2callback",
        "cookie_secret": "s" * 32,
        "client_id": "workbench",
        "client_secret": "x",
        "server_metadata_url": "http://127.0.0.1:9/.well-known/openid-configuration",
    }
}


def _provider_app(**claims) -> AppTest:
    at = AppTest.from_file(ROUTER, default_timeout=60)
    at.secrets.update(OIDC)
    at.user = {"is_logged_in": True, "iat": int(time.time()), **claims}
    return at.run()


def test_an_identity_provider_sign_in_maps_to_an_account_by_e_mail_and_unknown_ones_are_refused(team):
    accounts.add_account(
        Store.at(team), "Carol@Corp.example", "member", None
    )  # no password: the provider only
    at = _provider_app(email="carol@corp.example", email_verified=True)
    assert not at.exception and "**Carol@Corp.example** · member" in _texts(at)
    assert at.session_state["user"] == "Carol@Corp.example"

    at = _provider_app(email="mallory@corp.example")
    assert not at.exception and "Datasets" not in _texts(at)
    assert any("mallory@corp.example has no account here" in w.value for w in at.warning)

    at = _provider_app(email="carol@corp.example", email_verified=False)
    assert any("has not verified the e-mail" in w.value for w in at.warning) and "Datasets" not in _texts(at)

    at = _provider_app(email="carol@corp.example", iat=int(time.time()) - 13 * 3600)
    assert any("ended after 12 hours" in w.value for w in at.warning) and "Datasets" not in _texts(at)

    # the password form still works beside the provider's button, which it shows
    at = AppTest.from_file(ROUTER, default_timeout=60)
    at.secrets.update(OIDC)
    at.run()
    assert [b.label for b in at.button if b.key == "auth_login_None"] == ["Sign in with your organisation"]
    with pytest.raises(accounts.SignInRefused):  # an account without a password never signs in with one
        accounts.sign_in(Store.at(team), "Carol@Corp.example", "")


def _users(env: dict[str, str], *args: str, stdin: str = "") -> tuple[int, str]:
    """`python -m engine users ARGS` in a real process, standard input from `stdin` (never a terminal)."""
    done = subprocess.run(
        [sys.executable, "-m", "engine", "users", *args],
        cwd=PROJECT_ROOT,
        env={**os.environ, **env},
        input=stdin,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return done.returncode, done.stdout + done.stderr


def test_the_users_command_keeps_only_hashes_and_refuses_in_one_sentence(workbench_env):
    url = workbench_env["WORKBENCH_DB_URL"]
    secret = "Only-Typed-Once-7f3a"
    assert _users(
        workbench_env, "add", "ann", "--role", "admin", "--password-stdin", stdin=secret + "\n"
    ) == (
        0,
        "added ann (admin); signs in with a password\n",
    )
    code, out = _users(workbench_env, "add", "bob", "--role", "member", "--password-stdin", stdin="short\n")
    assert (code, out) == (2, "error: a password needs at least 10 characters\n")
    code, out = _users(workbench_env, "add", "bob", "--role", "member")  # no terminal to type it in
    assert (
        code == 2
        and out == "error: no terminal to type the password in: pass it as one line with --password-stdin\n"
    )
    code, out = _users(workbench_env, "add", "ANN", "--role", "viewer", "--no-password")
    assert (code, out) == (2, "error: an account named 'ann' already exists\n")
    for args in (
        ("disable", "ann"),
        ("set-role", "ann", "member"),
    ):  # nobody would be left to manage accounts
        code, out = _users(workbench_env, *args)
        assert (code, out) == (2, "error: 'ann' is the only enabled admin; make another admin first\n")
    assert _users(workbench_env, "add", "val", "--role", "viewer", "--no-password")[0] == 0
    assert _users(workbench_env, "set-role", "val", "admin") == (0, "val is admin now\n")
    assert _users(workbench_env, "disable", "ann") == (0, "ann is disabled\n")

    code, out = _users(workbench_env, "list")
    assert code == 0 and secret not in out and "$argon2" not in out
    assert [line.split()[:4] for line in out.splitlines()[1:]] == [
        ["ann", "admin", "disabled", "password"],
        ["val", "admin", "enabled", "provider"],
    ]
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT name, password_hash FROM accounts ORDER BY name")).all()
    engine.dispose()
    assert stored[0][1].startswith("$argon2id$") and secret not in repr(stored)
    assert stored[1] == ("val", None)
    with pytest.raises(accounts.SignInRefused, match="disabled"):
        accounts.sign_in(Store.at(url), "ann", secret)
