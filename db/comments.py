"""Review-meeting notes: comments on a run or an image (author, time), answered in threads and edited by their
author, and images flagged for the meeting."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, or_, select

from db.models import Comment, Dataset, Flag, Image, Run, check_user_name, utcnow
from db.store import Store

MAX_COMMENT_CHARS = 5000


@dataclass(frozen=True)
class CommentRow:
    id: int
    dataset_name: str | None
    run_id: int | None
    image_name: str | None
    author: str
    text: str
    created_at: datetime
    parent_id: int | None = None  # the comment this one answers
    edited_at: datetime | None = None  # when its author last changed the text

    @property
    def target(self) -> str:
        """What the comment is about, e.g. 'run #3', 'test/crack/001.png' or 'run #3, test/crack/001.png'."""
        parts = [f"run #{self.run_id}"] if self.run_id is not None else []
        if self.image_name:
            parts.append(self.image_name)
        return ", ".join(parts) or "dataset"


@dataclass(frozen=True)
class FlagRow:
    id: int
    dataset_name: str
    image_name: str
    run_id: int | None
    author: str
    note: str | None
    created_at: datetime


def _author(author: str) -> str:
    author = (author or "").strip()
    if not author:
        raise ValueError("author is empty; enter your name in the sidebar")
    return check_user_name(author, "author")


def _text(text: str) -> str:
    text = (text or "").strip()
    if not text:
        raise ValueError("comment text is empty")
    if len(text) > MAX_COMMENT_CHARS:
        raise ValueError(
            f"comment text is {len(text)} characters long; at most {MAX_COMMENT_CHARS} are allowed"
        )
    return text


def _in_dataset(s, comment: Comment, dataset_name: str) -> bool:
    if comment.dataset_name is not None:
        return comment.dataset_name == dataset_name
    run = s.get(Run, comment.run_id) if comment.run_id is not None else None
    return run is not None and run.dataset_name == dataset_name


def add_comment(
    store: Store,
    dataset_name: str,
    author: str,
    text: str,
    run_id: int | None = None,
    image_name: str | None = None,
    parent_id: int | None = None,
) -> int:
    """Record a comment on a run and/or an image of `dataset_name`, on the dataset as a whole (the review
    meeting) without either, or a reply to comment `parent_id` (about what its parent is about); its id."""
    author, text = _author(author), _text(text)
    if parent_id is not None and (run_id is not None or image_name):
        raise ValueError("a reply is about what the comment it answers is about: give parent_id alone")
    with store.session() as s:
        image_id = None
        if parent_id is not None:
            parent = s.get(Comment, parent_id)
            if parent is None or not _in_dataset(s, parent, dataset_name):
                raise KeyError(f"no comment with id {parent_id} on dataset {dataset_name!r} to reply to")
            run_id, image_id, image_name = parent.run_id, parent.image_id, parent.image_name
        if run_id is not None and parent_id is None:
            run = s.get(Run, run_id)
            if run is None:
                raise KeyError(f"no run with id {run_id}")
            if run.dataset_name != dataset_name:
                raise ValueError(f"run {run_id} is on dataset {run.dataset_name!r}, not {dataset_name!r}")
        if image_name and parent_id is None:
            image_id = s.scalar(
                select(Image.id)
                .join(Dataset, Image.dataset_id == Dataset.id)
                .where(Dataset.name == dataset_name, Image.relpath == image_name)
            )
        comment = Comment(
            dataset_name=dataset_name,
            run_id=run_id,
            image_id=image_id,
            image_name=image_name or None,
            author=author,
            text=text,
            parent_id=parent_id,
        )
        s.add(comment)
        s.flush()
        return comment.id


def edit_comment(store: Store, comment_id: int, author: str, text: str) -> datetime:
    """Replace the text of comment `comment_id`; only its author may. Returns the time of the edit (UTC)."""
    author, text = _author(author), _text(text)
    with store.session() as s:
        comment = s.get(Comment, comment_id)
        if comment is None:
            raise KeyError(f"no comment with id {comment_id}")
        if comment.author != author:
            raise ValueError(
                f"comment #{comment_id} was written by {comment.author}; only its author can edit it "
                f"(you are {author}: change the name in the sidebar if that is not you)"
            )
        if comment.text != text:
            comment.text, comment.edited_at = text, utcnow()
        return comment.edited_at or comment.created_at


def _row(c: Comment, dataset_name: str) -> CommentRow:
    return CommentRow(
        id=c.id,
        dataset_name=c.dataset_name or dataset_name,
        run_id=c.run_id,
        image_name=c.image_name,
        author=c.author,
        text=c.text,
        created_at=c.created_at,
        parent_id=c.parent_id,
        edited_at=c.edited_at,
    )


def list_comments(
    store: Store, dataset_name: str, run_id: int | None = None, image_name: str | None = None
) -> list[CommentRow]:
    """Comments on `dataset_name` (or on its runs), oldest first; optionally only those on a run or image."""
    with store.session() as s:
        runs_of_dataset = select(Run.id).where(Run.dataset_name == dataset_name)
        query = select(Comment).where(
            or_(Comment.dataset_name == dataset_name, Comment.run_id.in_(runs_of_dataset))
        )
        if run_id is not None:
            query = query.where(Comment.run_id == run_id)
        if image_name is not None:
            query = query.where(Comment.image_name == image_name)
        rows = s.scalars(query.order_by(Comment.created_at, Comment.id))
        return [_row(c, dataset_name) for c in rows]


def replies(rows: Sequence[CommentRow]) -> dict[int | None, list[CommentRow]]:
    """`rows` by the comment they answer (None: the comments that start a thread), each list oldest first; a
    reply whose parent is not among `rows` starts a thread of its own."""
    ids = {row.id for row in rows}
    out: dict[int | None, list[CommentRow]] = {}
    for row in rows:
        out.setdefault(row.parent_id if row.parent_id in ids else None, []).append(row)
    return out


def flag_image(
    store: Store,
    dataset_name: str,
    image_name: str,
    author: str,
    run_id: int | None = None,
    note: str | None = None,
) -> int:
    """Choose an image as an example for the review (again: update run, author and note); returns the flag id."""
    author = _author(author)
    if not image_name:
        raise ValueError("image_name is empty; pick an image to flag")
    with store.session() as s:
        if run_id is not None and s.get(Run, run_id) is None:
            raise KeyError(f"no run with id {run_id}")
        flag = s.scalar(select(Flag).where(Flag.dataset_name == dataset_name, Flag.image_name == image_name))
        if flag is None:
            flag = Flag(dataset_name=dataset_name, image_name=image_name, author=author)
            s.add(flag)
        flag.run_id, flag.author, flag.note = run_id, author, (note or "").strip() or None
        s.flush()
        return flag.id


def unflag_image(store: Store, dataset_name: str, image_name: str) -> bool:
    """Remove an image from the review examples; True when it was flagged."""
    with store.session() as s:
        result = s.execute(
            delete(Flag).where(Flag.dataset_name == dataset_name, Flag.image_name == image_name)
        )
        return bool(result.rowcount)


def list_flags(store: Store, dataset_name: str) -> list[FlagRow]:
    """Images flagged for the review of `dataset_name`, in the order they were flagged."""
    with store.session() as s:
        rows = s.scalars(select(Flag).where(Flag.dataset_name == dataset_name).order_by(Flag.id))
        return [
            FlagRow(f.id, f.dataset_name, f.image_name, f.run_id, f.author, f.note, f.created_at)
            for f in rows
        ]
