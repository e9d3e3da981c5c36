"""A user name longer than the store keeps: refused by the sidebar (the page then acts in no name) and by the
store with a ValueError naming the field, the same on SQLite (which keeps any length) and on PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from db import comments, labels
from db import datasets as db_datasets
from db import runs as db_runs
from db.models import MAX_USER_NAME_CHARS
from db.store import Store
from engine.data.importer import import_dataset
from engine.runconfig import RunConfig

ROUTER = str(Path(__file__).resolve().parents[2] / "streamlit_app.py")
LABEL_PAGE = "dashboard/pages/label.py"
LONG = "n" * 150


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, workbench_env, monkeypatch) -> str:
    """The test's store on SQLite or on a throwaway PostgreSQL database (skipped without one), migrated."""
    if request.param == "sqlite":
        url = workbench_env["WORKBENCH_DB_URL"]
    else:
        url = request.getfixturevalue("pg_url")
        monkeypatch.setenv("WORKBENCH_DB_URL", url)
    Store.migrate(url)
    return url


@pytest.fixture
def toy(store_url, toy_folder):
    import_dataset(toy_folder, "toy")
    return db_datasets.get_dataset(Store.at(store_url), "toy")


def _label_page(name: str) -> AppTest:
    """The app on the Label page of `toy`, with `name` typed in the sidebar."""
    at = AppTest.from_file(ROUTER, default_timeout=60)
    at.session_state["user"] = name
    at.session_state["dataset"] = "toy"
    at.run()
    at.switch_page(LABEL_PAGE).run()
    return at


def test_the_store_refuses_a_long_name_in_every_name_column(toy, store_url):
    first = labels.images_to_label(Store.at(store_url), toy.id)[0]
    with pytest.raises(ValueError, match=rf"author is 150 characters long.*at most {MAX_USER_NAME_CHARS}"):
        labels.save_label(
            Store.at(store_url), first.image_id, shown_version=first.version, author=LONG, label=0
        )
    assert labels.label_state(Store.at(store_url), first.image_id).version == first.version  # nothing written
    with pytest.raises(ValueError, match="author is 150 characters long"):
        comments.add_comment(Store.at(store_url), "toy", LONG, "dent?", image_name=first.relpath)
    with pytest.raises(ValueError, match="author is 150 characters long"):
        comments.flag_image(Store.at(store_url), "toy", first.relpath, LONG, note="look")
    run_id = db_runs.create_run(
        Store.at(store_url),
        dataset_name="toy",
        method="vae",
        preset="smoke",
        params={},
        seed=0,
        image_size=32,
    )
    with pytest.raises(ValueError, match="queued_by is 150 characters long"):
        db_runs.update_run(Store.at(store_url), run_id, queued_by=LONG)
    with pytest.raises(ValueError, match="user is 150 characters long"):
        RunConfig("toy", "vae", "smoke", user=LONG)  # a job is refused before it is queued

    longest = "n" * MAX_USER_NAME_CHARS  # the limit itself is kept whole on both databases
    saved = labels.save_label(
        Store.at(store_url), first.image_id, shown_version=first.version, author=longest, label=0
    )
    assert saved.saved and labels.label_state(Store.at(store_url), first.image_id).labeled_by == longest
    comments.add_comment(Store.at(store_url), "toy", longest, "dent?", image_name=first.relpath)
    db_runs.update_run(Store.at(store_url), run_id, queued_by=longest)
    assert db_runs.get_run(Store.at(store_url), run_id).queued_by == longest
    assert [c.author for c in comments.list_comments(Store.at(store_url), "toy")] == [longest]
    assert comments.list_flags(Store.at(store_url), "toy") == []


def test_the_sidebar_refuses_a_long_name_and_the_label_page_saves_nothing(toy, store_url):
    at = _label_page("ann")
    assert not at.exception and at.button(key="label_normal")
    shown = labels.label_state(Store.at(store_url), at.session_state["label_pinned"][1].image_id)

    # the name is changed and Normal clicked in one go: the button's callback runs before the sidebar
    at.sidebar.text_input(key="user").input(LONG)
    at.button(key="label_normal").click().run()
    assert not at.exception, at.exception
    assert labels.label_state(Store.at(store_url), shown.image_id) == shown  # not saved in any name
    refusals = [e.value for e in at.sidebar.error]
    assert len(refusals) == 1 and "150 characters long" in refusals[0], refusals
    assert f"at most {MAX_USER_NAME_CHARS}" in refusals[0]
    assert not [b for b in at.button if b.key == "label_normal"]  # the page waits for a shorter name

    at.sidebar.text_input(key="user").input("ann").run()
    at.button(key="label_normal").click().run()
    assert not at.exception and not at.sidebar.error
    assert labels.label_state(Store.at(store_url), shown.image_id).labeled_by == "ann"
