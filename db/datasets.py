"""Datasets and their images: record, look up, count, summarise (per split and label, runs) and soft-delete
(runs stay readable)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy import func, select

from db.models import Dataset, Image, Run, utcnow
from db.store import Store


@dataclass(frozen=True)
class ImageRow:
    relpath: str
    split: str
    label: int | None
    defect_type: str | None
    mask_relpath: str | None
    sha256: str
    width: int
    height: int
    channels: int


def add_dataset(
    store: Store, name: str, kind: str, root: str, channels: int, images: Sequence[ImageRow]
) -> int:
    """Record a dataset and all its images in one transaction; returns the dataset id."""
    with store.session() as s:
        if s.scalar(select(Dataset.id).where(Dataset.name == name)) is not None:
            raise ValueError(f"a dataset named {name!r} already exists; pick another name")
        ds = Dataset(name=name, kind=kind, root=root, channels=channels)
        s.add(ds)
        s.flush()
        s.add_all(Image(dataset_id=ds.id, **vars(row)) for row in images)
        return ds.id


def get_dataset(store: Store, name: str) -> Dataset | None:
    with store.session() as s:
        return s.scalar(select(Dataset).where(Dataset.name == name, Dataset.deleted_at.is_(None)))


def list_datasets(store: Store) -> list[Dataset]:
    with store.session() as s:
        return list(s.scalars(select(Dataset).where(Dataset.deleted_at.is_(None)).order_by(Dataset.name)))


def list_images(store: Store, dataset_id: int, split: str | None = None) -> list[Image]:
    with store.session() as s:
        query = select(Image).where(Image.dataset_id == dataset_id)
        if split:
            query = query.where(Image.split == split)
        return list(s.scalars(query.order_by(Image.relpath)))


def image_counts(store: Store, dataset_id: int) -> dict[tuple[str, str], int]:
    """Counts per (split, defect type or 'unlabeled')."""
    with store.session() as s:
        rows = s.execute(
            select(Image.split, func.coalesce(Image.defect_type, "unlabeled"), func.count())
            .where(Image.dataset_id == dataset_id)
            .group_by(Image.split, Image.defect_type)
        )
        return {(split, defect): n for split, defect, n in rows}


@dataclass(frozen=True)
class DatasetSummary:
    id: int
    name: str
    kind: str
    root: str
    channels: int
    created_at: datetime
    runs: int
    counts: dict[tuple[str, str], int] = field(default_factory=dict)  # (split, normal|anomalous|unlabeled)
    defect_counts: dict[str, int] = field(default_factory=dict)  # defect type -> images

    def count(self, split: str, label: str | None = None) -> int:
        return sum(n for (sp, lab), n in self.counts.items() if sp == split and label in (None, lab))


LABEL_NAMES = {0: "normal", 1: "anomalous", None: "unlabeled"}


def summaries(store: Store) -> list[DatasetSummary]:
    """Every dataset that is not deleted, by name, with image counts and how many runs used it."""
    with store.session() as s:
        datasets = list(s.scalars(select(Dataset).where(Dataset.deleted_at.is_(None)).order_by(Dataset.name)))
        counts: dict[int, dict[tuple[str, str], int]] = {}
        for dataset_id, split, label, n in s.execute(
            select(Image.dataset_id, Image.split, Image.label, func.count()).group_by(
                Image.dataset_id, Image.split, Image.label
            )
        ):
            counts.setdefault(dataset_id, {})[(split, LABEL_NAMES.get(label, str(label)))] = n
        defects: dict[int, dict[str, int]] = {}
        for dataset_id, defect, n in s.execute(
            select(Image.dataset_id, Image.defect_type, func.count())
            .where(Image.label == 1)
            .group_by(Image.dataset_id, Image.defect_type)
        ):
            defects.setdefault(dataset_id, {})[defect or "anomaly"] = n
        runs = dict(s.execute(select(Run.dataset_id, func.count()).group_by(Run.dataset_id)).all())
        return [
            DatasetSummary(
                id=d.id,
                name=d.name,
                kind=d.kind,
                root=d.root,
                channels=d.channels,
                created_at=d.created_at,
                runs=runs.get(d.id, 0),
                counts=counts.get(d.id, {}),
                defect_counts=defects.get(d.id, {}),
            )
            for d in datasets
        ]


def recorded_names(store: Store) -> set[str]:
    """The name and folder name of every dataset in the store, soft-deleted ones included (their folders stay)."""
    with store.session() as s:
        rows = s.execute(select(Dataset.name, Dataset.root)).all()
    return {name for name, _ in rows} | {Path(root).name for _, root in rows if root}


def soft_delete(store: Store, name: str) -> None:
    """Hide a dataset (sets `deleted_at`); its files, images and runs are kept so runs stay readable."""
    with store.session() as s:
        dataset = s.scalar(select(Dataset).where(Dataset.name == name, Dataset.deleted_at.is_(None)))
        if dataset is None:
            names = sorted(s.scalars(select(Dataset.name).where(Dataset.deleted_at.is_(None))))
            raise KeyError(f"no dataset named {name!r}; choose from {names}")
        dataset.deleted_at = utcnow()
