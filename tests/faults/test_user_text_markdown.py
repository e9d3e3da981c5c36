"""User text holding Markdown (an image pointing at some server, links, emphasis...) is shown as typed: the
escaping helper on its own, and the Label, Review, Inspect and Compare pages on a store full of such text."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from dashboard.safe_text import literal, literal_table
from db import comments, labels
from db import datasets as db_datasets
from db import runs as db_runs
from db.store import Store
from engine.data.importer import import_dataset
from engine.run import train_and_evaluate
from engine.runconfig import RunConfig

markdown_it = pytest.importorskip("markdown_it", reason="markdown-it-py renders CommonMark for the checks")

PROJECT = Path(__file__).resolve().parents[2]
NAME = "![n](http://127.0.0.1:9/name.png)"
NOTE = "see [this](http://127.0.0.1:9/x) ![i](http://127.0.0.1:9/note.png) *now*"
DEFECT = "![d](http://127.0.0.1:9/type.png)"
IMAGE = "test/square/000.png"
NASTY = [
    NAME,
    NOTE,
    "[link](http://x) <img src=http://x/y.png> <http://x> &amp; &lt;b&gt;",
    "*a* _b_ **c** __d__ ~~e~~ `f` ``g`` snake_case_name __init__",
    "# heading",
    "- item\n+ item\n* item\n1. one\n22) two\n> quote",
    "line\n===\nline\n---\n***\n___",
    "a | b\n--|--\nc | d",
    "back\\slash \\*kept\\* trailing\\",
    "[ref]: http://x\n[ref]",
    "```\ncode\n```\n~~~\nmore\n~~~",
]


def _render(markdown: str) -> str:
    return markdown_it.MarkdownIt("commonmark").enable(["table", "strikethrough"]).render(markdown)


@pytest.mark.parametrize("text", NASTY)
def test_escaped_text_renders_as_one_plain_paragraph(text):
    rendered = _render(literal(text))
    inner = re.fullmatch(r"<p>(.*)</p>\n", rendered, re.DOTALL)
    assert inner is not None, rendered  # one paragraph: no heading, list, table, quote, code block
    assert "<" not in inner[1], rendered  # no tag inside: no link, image, emphasis, code
    assert html.unescape(inner[1]) == text  # every character shown as typed


def test_table_cells_are_escaped_and_numbers_kept():
    table = literal_table(pd.DataFrame({"run": ["vae #1"], "test images": [f"good 3, {DEFECT} 2"], "n": [5]}))
    assert list(table["test images"]) == [f"good 3, {literal(DEFECT)} 2"]
    assert list(table["run"]) == ["vae #1"] and table["n"].dtype.kind == "i"


def test_streamlit_marks_are_escaped_too():
    assert literal("$x$ :red[y] :material/home:") == r"\$x\$ \:red\[y\] \:material\/home\:"
    assert literal("test/good/001.png by ann (square)") == "test/good/001.png by ann (square)"


@pytest.fixture
def nasty_store(workbench_env, toy_folder) -> int:
    """Dataset `toy` labeled, trained, flagged and commented on by NAME, with NOTE and defect type DEFECT."""
    import_dataset(toy_folder, "toy")
    toy = db_datasets.get_dataset(Store.at(), "toy")
    image = next(s for s in labels.images_to_label(Store.at(), toy.id) if s.relpath == IMAGE)
    labels.save_label(Store.at(), image.image_id, shown_version=0, author=NAME, label=1, defect_type=DEFECT)
    run_id = train_and_evaluate(RunConfig("toy", "autoencoder", "smoke", image_size=32, user=NAME)).run_id
    db_runs.update_run(Store.at(), run_id, notes=NOTE)
    comments.flag_image(Store.at(), "toy", IMAGE, NAME, run_id=run_id, note=NOTE)
    comments.add_comment(Store.at(), "toy", NAME, NOTE, run_id=run_id)
    comments.add_comment(Store.at(), "toy", NAME, NOTE, image_name=IMAGE)
    return run_id


def _page(page: str, **session) -> AppTest:
    at = AppTest.from_file(str(PROJECT / page), default_timeout=60)
    for key, value in {"user": NAME, "dataset": "toy", **session}.items():
        at.session_state[key] = value
    at.run()
    assert not at.exception, at.exception
    return at


def _markdown_shown(at: AppTest) -> list[str]:
    """The Markdown source of every text on the page that Streamlit renders as Markdown."""
    texts = [
        e.value
        for kind in ("markdown", "caption", "subheader", "title", "info", "success", "warning", "error")
        for e in getattr(at, kind)
    ]
    texts += [
        e.label for kind in ("expander", "button", "selectbox", "multiselect") for e in getattr(at, kind)
    ]
    texts += [str(cell) for table in at.table for cell in table.value.to_numpy().ravel()]
    return texts + [c for image in at.image for c in image.captions]


def _check(at: AppTest, *shown: str) -> None:
    """No image or link on the page, and each of `shown` visible as typed."""
    rendered = [_render(text) for text in _markdown_shown(at)]
    assert not [r for r in rendered if "<img" in r or "<a " in r], rendered
    for text in shown:
        assert any(text in html.unescape(r) for r in rendered), (text, rendered)


def test_the_pages_show_user_text_as_typed(nasty_store):
    run_id = nasty_store
    label = _page("dashboard/pages/label.py")
    label.selectbox(key="label_jump").set_value(IMAGE).run()
    _check(label, NAME, DEFECT)
    _check(_page("dashboard/pages/review.py"), NAME, NOTE, DEFECT)
    # the deck opens on its leaderboard slide, which names no defect type: no image or link there either
    _check(_page("dashboard/pages/review.py", presentation=True))
    _check(_page("dashboard/pages/inspect.py", inspect_image=IMAGE), DEFECT)
    _check(_page("dashboard/pages/compare.py", runs_picker_toy=[run_id]), NOTE)
