import pytest

from db import comments
from db import runs as db_runs
from db.store import Store
from engine.data.importer import import_dataset
from tests.synthetic_mvtec import make_mvtec_folder


@pytest.fixture
def toy(workbench_env, tmp_path):
    folder = make_mvtec_folder(tmp_path / "src", n_train=2, n_good=1, defects={"square": 1}, size=16)
    import_dataset(folder, "toy")
    run_id = db_runs.create_run(
        Store.at(), dataset_name="toy", method="vae", preset="smoke", params={}, seed=0, image_size=16
    )
    other = db_runs.create_run(
        Store.at(), dataset_name="other", method="vae", preset="smoke", params={}, seed=0, image_size=16
    )
    return run_id, other


def test_comments_keep_author_time_target_and_order(toy):
    run_id, _ = toy
    first = comments.add_comment(Store.at(), "toy", " ann ", "looks good", run_id=run_id)
    second = comments.add_comment(
        Store.at(), "toy", "bob", "why so bright?", image_name="test/square/000.png"
    )
    rows = comments.list_comments(Store.at(), "toy")
    assert [r.id for r in rows] == [first, second]
    assert (rows[0].author, rows[0].text, rows[0].run_id, rows[0].target) == (
        "ann",
        "looks good",
        run_id,
        f"run #{run_id}",
    )
    assert rows[1].target == "test/square/000.png" and rows[1].created_at >= rows[0].created_at
    assert [r.id for r in comments.list_comments(Store.at(), "toy", run_id=run_id)] == [first]
    assert [r.id for r in comments.list_comments(Store.at(), "toy", image_name="test/square/000.png")] == [
        second
    ]
    assert comments.list_comments(Store.at(), "other") == []


def test_image_comment_links_the_stored_image_row(toy):
    comment_id = comments.add_comment(Store.at(), "toy", "ann", "dent?", image_name="test/square/000.png")
    with Store.at().session() as s:
        from db.models import Comment, Image

        comment = s.get(Comment, comment_id)
        assert s.get(Image, comment.image_id).relpath == "test/square/000.png"


def test_comment_rows_follow_a_deleted_run(toy):
    run_id, _ = toy
    comments.add_comment(Store.at(), "toy", "ann", "gone soon", run_id=run_id)
    db_runs.delete_run(Store.at(), run_id)
    assert comments.list_comments(Store.at(), "toy") == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"author": "", "text": "x", "image_name": "a.png"}, "author is empty"),
        ({"author": "ann", "text": "   ", "image_name": "a.png"}, "comment text is empty"),
        ({"author": "ann", "text": "x" * 5001, "image_name": "a.png"}, "at most 5000"),
    ],
)
def test_bad_comments_are_refused_with_the_field_named(toy, kwargs, message):
    with pytest.raises(ValueError, match=message):
        comments.add_comment(Store.at(), "toy", **kwargs)
    assert comments.list_comments(Store.at(), "toy") == []


def test_a_comment_on_no_run_and_no_image_is_on_the_dataset_as_a_whole(toy):
    comment_id = comments.add_comment(Store.at(), "toy", "ann", "padim is best")
    [row] = comments.list_comments(Store.at(), "toy")
    assert (row.id, row.run_id, row.image_name, row.text) == (comment_id, None, None, "padim is best")
    assert comments.list_comments(Store.at(), "other") == []


def test_comment_on_a_run_of_another_dataset_is_refused(toy):
    _, other = toy
    with pytest.raises(ValueError, match="is on dataset 'other'"):
        comments.add_comment(Store.at(), "toy", "ann", "x", run_id=other)
    with pytest.raises(KeyError, match="no run with id 999"):
        comments.add_comment(Store.at(), "toy", "ann", "x", run_id=999)


def test_flags_are_unique_per_image_and_can_be_removed(toy):
    run_id, _ = toy
    first = comments.flag_image(
        Store.at(), "toy", "test/square/000.png", "ann", run_id=run_id, note="clear miss"
    )
    again = comments.flag_image(Store.at(), "toy", "test/square/000.png", "bob", note=" ")
    comments.flag_image(Store.at(), "toy", "test/good/000.png", "ann")
    flags = comments.list_flags(Store.at(), "toy")
    assert first == again
    assert [(f.image_name, f.author, f.note, f.run_id) for f in flags] == [
        ("test/square/000.png", "bob", None, None),
        ("test/good/000.png", "ann", None, None),
    ]
    assert comments.unflag_image(Store.at(), "toy", "test/good/000.png") is True
    assert comments.unflag_image(Store.at(), "toy", "test/good/000.png") is False
    assert [f.image_name for f in comments.list_flags(Store.at(), "toy")] == ["test/square/000.png"]
    assert comments.list_flags(Store.at(), "other") == []


def test_a_reply_answers_its_comment_and_is_about_the_same_thing(toy):
    run_id, _ = toy
    first = comments.add_comment(
        Store.at(), "toy", "ann", "dent?", run_id=run_id, image_name="test/square/000.png"
    )
    reply = comments.add_comment(Store.at(), "toy", "bob", "glare, I think", parent_id=first)
    again = comments.add_comment(Store.at(), "toy", "ann", "agreed", parent_id=reply)
    rows = {r.id: r for r in comments.list_comments(Store.at(), "toy")}
    assert (rows[reply].parent_id, rows[reply].run_id, rows[reply].image_name) == (
        first,
        run_id,
        "test/square/000.png",
    )
    assert rows[again].parent_id == reply
    assert [r.id for r in comments.list_comments(Store.at(), "toy", image_name="test/square/000.png")] == [
        first,
        reply,
        again,
    ]
    threads = comments.replies(list(rows.values()))
    assert [r.id for r in threads[None]] == [first]
    assert [r.id for r in threads[first]] == [reply] and [r.id for r in threads[reply]] == [again]
    # a reply shown without its parent (e.g. filtered out) starts a thread of its own
    assert [r.id for r in comments.replies([rows[reply]])[None]] == [reply]


def test_replies_are_refused_without_a_parent_on_this_dataset(toy, workbench_env, env_store):
    run_id, other = toy
    on_other = comments.add_comment(env_store, "other", "ann", "elsewhere", run_id=other)
    with pytest.raises(KeyError, match="no comment with id 999 on dataset 'toy'"):
        comments.add_comment(env_store, "toy", "bob", "x", parent_id=999)
    with pytest.raises(KeyError, match=f"no comment with id {on_other} on dataset 'toy'"):
        comments.add_comment(env_store, "toy", "bob", "x", parent_id=on_other)
    first = comments.add_comment(env_store, "toy", "ann", "x", run_id=run_id)
    with pytest.raises(ValueError, match="give parent_id alone"):
        comments.add_comment(env_store, "toy", "bob", "x", parent_id=first, image_name="test/good/000.png")
    with pytest.raises(ValueError, match="comment text is empty"):
        comments.add_comment(env_store, "toy", "bob", " ", parent_id=first)
    assert [r.id for r in comments.list_comments(env_store, "toy")] == [first]


def test_only_the_author_edits_a_comment_and_the_edit_time_is_kept(toy):
    run_id, _ = toy
    first = comments.add_comment(Store.at(), "toy", "ann", "looks good", run_id=run_id)
    [row] = comments.list_comments(Store.at(), "toy")
    assert row.edited_at is None
    with pytest.raises(ValueError, match="written by ann; only its author can edit it"):
        comments.edit_comment(Store.at(), first, "bob", "looks bad")
    with pytest.raises(ValueError, match="comment text is empty"):
        comments.edit_comment(Store.at(), first, "ann", "  ")
    with pytest.raises(KeyError, match="no comment with id 999"):
        comments.edit_comment(Store.at(), 999, "ann", "x")
    assert comments.list_comments(Store.at(), "toy")[0].text == "looks good"

    when = comments.edit_comment(Store.at(), first, " ann ", "looks good, except the corner")
    [row] = comments.list_comments(Store.at(), "toy")
    assert (row.text, row.edited_at, row.author) == ("looks good, except the corner", when, "ann")
    assert row.edited_at >= row.created_at


def test_deleting_a_commented_run_removes_its_threads(toy):
    run_id, _ = toy
    first = comments.add_comment(Store.at(), "toy", "ann", "gone soon", run_id=run_id)
    comments.add_comment(Store.at(), "toy", "bob", "and its reply", parent_id=first)
    kept = comments.add_comment(Store.at(), "toy", "bob", "on the image", image_name="test/good/000.png")
    db_runs.delete_run(Store.at(), run_id)
    assert [r.id for r in comments.list_comments(Store.at(), "toy")] == [kept]
