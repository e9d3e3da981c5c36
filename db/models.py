"""ORM tables of the results store (SQLAlchemy 2.0 typed mappings); Alembic migrations mirror them. The
length limit of a person's name is checked here, the same on every database (SQLite keeps longer text)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship, validates
from sqlalchemy.types import TypeDecorator

from db import locations

MAX_USER_NAME_CHARS = 100  # every column that holds a person's name: label authors, comments, flags, runs


def check_user_name(name: str | None, field: str) -> str | None:
    """`name` when it fits the user-name columns; a ValueError naming `field` and the limit otherwise."""
    if name is not None and len(name) > MAX_USER_NAME_CHARS:
        raise ValueError(
            f"{field} is {len(name)} characters long; a user name may have at most {MAX_USER_NAME_CHARS}"
        )
    return name


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class Base(DeclarativeBase):
    pass


class DataDirPath(TypeDecorator):
    """A folder stored relative to `WORKBENCH_DATA_DIR` when it lies inside it (so a store moved with its data
    directory, or shared by hosts that mount it elsewhere, still finds it); read back as an absolute path."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: object) -> str | None:
        if not value:
            return value
        path, base = Path(value), locations.data_dir()
        if path.is_absolute() and path.is_relative_to(base):
            return path.relative_to(base).as_posix() or "."
        return value

    def process_result_value(self, value: str | None, dialect: object) -> str | None:
        if not value or Path(value).is_absolute():
            return value
        return str(locations.data_dir() / value)


class Dataset(Base):
    __tablename__ = "datasets"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(20))  # "mvtec" | "flat" | "builtin"
    root: Mapped[str] = mapped_column(DataDirPath)  # folder of the images ("" for built-in sets)
    channels: Mapped[int] = mapped_column(Integer, default=3)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)

    images: Mapped[list[Image]] = relationship(back_populates="dataset", cascade="all, delete-orphan")


class Image(Base):
    __tablename__ = "images"
    __table_args__ = (UniqueConstraint("dataset_id", "relpath"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"), index=True)
    relpath: Mapped[str] = mapped_column(Text)  # e.g. "test/crack/003.png"
    split: Mapped[str] = mapped_column(String(10))  # "train" | "test"
    label: Mapped[int | None] = mapped_column(Integer, nullable=True)  # 0 normal, 1 anomalous, None unlabeled
    defect_type: Mapped[str | None] = mapped_column(String(100), nullable=True)
    mask_relpath: Mapped[str | None] = mapped_column(Text, nullable=True)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    channels: Mapped[int] = mapped_column(Integer)
    label_version: Mapped[int] = mapped_column(Integer, default=0)  # bumped on every label change
    labeled_by: Mapped[str | None] = mapped_column(String(MAX_USER_NAME_CHARS), nullable=True)
    labeled_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)

    dataset: Mapped[Dataset] = relationship(back_populates="images")

    @validates("labeled_by")
    def _user_name(self, key: str, value: str | None) -> str | None:
        return check_user_name(value, key)


class LabelEvent(Base):
    """History of label changes: who set what, when, on top of which version."""

    __tablename__ = "label_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    image_id: Mapped[int] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"), index=True)
    author: Mapped[str] = mapped_column(String(MAX_USER_NAME_CHARS))
    label: Mapped[int | None] = mapped_column(Integer, nullable=True)
    defect_type: Mapped[str | None] = mapped_column(String(100), nullable=True)
    mask_relpath: Mapped[str | None] = mapped_column(Text, nullable=True)
    version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    @validates("author")
    def _user_name(self, key: str, value: str | None) -> str | None:
        return check_user_name(value, key)


class Run(Base):
    __tablename__ = "runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    mlflow_run_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    dataset_id: Mapped[int | None] = mapped_column(
        ForeignKey("datasets.id", ondelete="SET NULL"), nullable=True
    )
    dataset_name: Mapped[str] = mapped_column(String(200), index=True)
    method: Mapped[str] = mapped_column(String(50), index=True)
    preset: Mapped[str] = mapped_column(String(20))
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # the method's parameters
    seed: Mapped[int] = mapped_column(Integer, default=0)
    image_size: Mapped[int] = mapped_column(Integer, default=128)
    status: Mapped[str] = mapped_column(String(20), default="RUNNING", index=True)  # RUNNING|FINISHED|FAILED
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # ROC, intervals, per-type AUROC
    image_auroc: Mapped[float | None] = mapped_column(Float, nullable=True)
    pixel_auroc: Mapped[float | None] = mapped_column(Float, nullable=True)
    fit_seconds: Mapped[float | None] = mapped_column(Float, nullable=True)
    predict_seconds: Mapped[float | None] = mapped_column(Float, nullable=True)
    images_per_second: Mapped[float | None] = mapped_column(Float, nullable=True)
    peak_memory_mb: Mapped[float | None] = mapped_column(Float, nullable=True)
    device: Mapped[str | None] = mapped_column(String(100), nullable=True)
    notes: Mapped[str | None] = mapped_column(Text, nullable=True)
    # a file of the artifact outside MLflow (none for new runs: MLflow says where), stored as Dataset.root
    predictions_path: Mapped[str | None] = mapped_column(DataDirPath, nullable=True)
    started_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    worker_id: Mapped[str | None] = mapped_column(
        String(200), nullable=True
    )  # host:pid:random of its process
    lease_expires_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)  # renewed while alive
    queued_by: Mapped[str | None] = mapped_column(
        String(MAX_USER_NAME_CHARS), nullable=True
    )  # the user who asked for it

    @validates("queued_by")
    def _user_name(self, key: str, value: str | None) -> str | None:
        return check_user_name(value, key)


class ImagePrediction(Base):
    __tablename__ = "predictions"
    __table_args__ = (UniqueConstraint("run_id", "image_name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    image_id: Mapped[int | None] = mapped_column(ForeignKey("images.id", ondelete="SET NULL"), nullable=True)
    image_name: Mapped[str] = mapped_column(Text)
    label: Mapped[int] = mapped_column(Integer)
    defect_type: Mapped[str] = mapped_column(String(100))
    score: Mapped[float] = mapped_column(Float)
    score_normalized: Mapped[float] = mapped_column(Float)


class Job(Base):
    """Queued training work; the worker claims QUEUED jobs and writes progress here."""

    __tablename__ = "jobs"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20), default="train")
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)  # the RunConfig of a train job
    status: Mapped[str] = mapped_column(
        String(20), default="QUEUED", index=True
    )  # QUEUED|RUNNING|DONE|FAILED|CANCELLED
    progress: Mapped[float] = mapped_column(Float, default=0.0)  # 0..1
    message: Mapped[str | None] = mapped_column(Text, nullable=True)
    epoch: Mapped[int | None] = mapped_column(Integer, nullable=True)
    epochs: Mapped[int | None] = mapped_column(Integer, nullable=True)
    loss: Mapped[float | None] = mapped_column(Float, nullable=True)
    eta_seconds: Mapped[float | None] = mapped_column(Float, nullable=True)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id", ondelete="SET NULL"), nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    retry_of: Mapped[int | None] = mapped_column(  # the failed or cancelled job this one retries
        ForeignKey("jobs.id", ondelete="SET NULL"), nullable=True, unique=True, index=True
    )
    worker_pid: Mapped[int | None] = mapped_column(Integer, nullable=True)
    worker_id: Mapped[str | None] = mapped_column(String(200), nullable=True)  # host:pid:random of its worker
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    lease_expires_at: Mapped[datetime | None] = mapped_column(
        DateTime, nullable=True
    )  # renewed by heartbeats
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class Comment(Base):
    __tablename__ = "comments"

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int | None] = mapped_column(
        ForeignKey("runs.id", ondelete="CASCADE"), nullable=True, index=True
    )
    image_id: Mapped[int | None] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"), nullable=True)
    image_name: Mapped[str | None] = mapped_column(Text, nullable=True)
    dataset_name: Mapped[str | None] = mapped_column(String(200), nullable=True, index=True)
    author: Mapped[str] = mapped_column(String(MAX_USER_NAME_CHARS))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("comments.id", ondelete="CASCADE"), nullable=True, index=True
    )  # the comment this one answers
    edited_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)  # its author's last edit

    @validates("author")
    def _user_name(self, key: str, value: str | None) -> str | None:
        return check_user_name(value, key)


class Flag(Base):
    """An image chosen for the review meeting (flagged from the Inspect page), at most once per dataset."""

    __tablename__ = "flags"
    __table_args__ = (UniqueConstraint("dataset_name", "image_name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    dataset_name: Mapped[str] = mapped_column(String(200), index=True)
    image_name: Mapped[str] = mapped_column(Text)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id", ondelete="SET NULL"), nullable=True)
    author: Mapped[str] = mapped_column(String(MAX_USER_NAME_CHARS))
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    @validates("author")
    def _user_name(self, key: str, value: str | None) -> str | None:
        return check_user_name(value, key)


ROLES = ("admin", "member", "viewer")  # what an account may do: see dashboard.auth.ACTIONS


class Account(Base):
    """A person who may sign in to the dashboard: a role, an argon2 hash of the password (None: signs in only
    through the identity provider), and whether an admin disabled it. Never a password in clear."""

    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(MAX_USER_NAME_CHARS), unique=True)
    role: Mapped[str] = mapped_column(String(10))  # one of ROLES
    password_hash: Mapped[str | None] = mapped_column(Text, nullable=True)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    last_sign_in_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)

    @validates("name")
    def _user_name(self, key: str, value: str | None) -> str | None:
        return check_user_name(value, key)
