"""Labels of images with history and optimistic concurrency, and the "suggest next" order for labeling.

A save names the version the person was shown; it succeeds only if nobody saved since
(`UPDATE ... WHERE label_version = shown`), otherwise it is refused with the other person's change."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from sqlalchemy import select, update

from db import datasets as db_datasets
from db.models import Dataset, Image, ImagePrediction, LabelEvent, Run, check_user_name, utcnow
from db.store import Store

NORMAL = "good"
STRATEGIES = ("disagreement", "uncertainty")


@dataclass(frozen=True)
class LabelState:
    """One image's current label as stored."""

    image_id: int
    relpath: str
    split: str
    label: int | None  # 0 normal, 1 anomalous, None unlabeled
    defect_type: str | None
    mask_relpath: str | None
    version: int
    labeled_by: str | None
    labeled_at: datetime | None

    @property
    def text(self) -> str:
        """'normal', 'anomalous (crack)' or 'unlabeled'."""
        if self.label is None:
            return "unlabeled"
        if self.label == 0:
            return "normal"
        return f"anomalous ({self.defect_type})" if self.defect_type else "anomalous"


@dataclass(frozen=True)
class SaveResult:
    saved: bool
    state: LabelState  # after the save; on a conflict, the other person's newer label


def _state(image: Image) -> LabelState:
    return LabelState(
        image_id=image.id,
        relpath=image.relpath,
        split=image.split,
        label=image.label,
        defect_type=image.defect_type,
        mask_relpath=image.mask_relpath,
        version=image.label_version,
        labeled_by=image.labeled_by,
        labeled_at=image.labeled_at,
    )


def label_state(store: Store, image_id: int) -> LabelState:
    with store.session() as s:
        image = s.get(Image, image_id)
        if image is None:
            raise KeyError(f"no image with id {image_id}")
        return _state(image)


def images_to_label(
    store: Store, dataset_id: int, split: str | None = "test", only_unlabeled: bool = False
) -> list[LabelState]:
    """Images of a dataset (one split or all) in file order, optionally only the unlabeled ones."""
    if split not in (None, "train", "test"):
        raise ValueError(f"unknown split {split!r}; choose from ['train', 'test'] or None for both")
    with store.session() as s:
        query = select(Image).where(Image.dataset_id == dataset_id)
        if split:
            query = query.where(Image.split == split)
        if only_unlabeled:
            query = query.where(Image.label.is_(None))
        return [_state(image) for image in s.scalars(query.order_by(Image.split.desc(), Image.relpath))]


def save_label(
    store: Store,
    image_id: int,
    *,
    shown_version: int,
    author: str,
    label: int | None,
    defect_type: str | None = None,
    mask_relpath: str | None = None,
) -> SaveResult:
    """Set an image's label if it is still at `shown_version`; records a LabelEvent. Refused on a conflict."""
    if label not in (0, 1, None):
        raise ValueError(f"bad label {label!r}; choose from [0 (normal), 1 (anomalous), None (unlabeled)]")
    author = check_user_name((author or "").strip() or "anonymous", "author")
    if label == 0:
        defect_type, mask_relpath = NORMAL, None
    elif label is None:
        defect_type, mask_relpath = None, None
    elif not defect_type or defect_type == NORMAL:
        raise ValueError(f"an anomalous image needs a defect type other than {NORMAL!r}, got {defect_type!r}")
    now = utcnow()
    with store.session() as s:
        changed = s.execute(
            update(Image)
            .where(Image.id == image_id, Image.label_version == shown_version)
            .values(
                label=label,
                defect_type=defect_type,
                mask_relpath=mask_relpath,
                label_version=Image.label_version + 1,
                labeled_by=author,
                labeled_at=now,
            )
        ).rowcount
        image = s.get(Image, image_id, populate_existing=True)
        if image is None:
            raise KeyError(f"no image with id {image_id}")
        if changed != 1:
            return SaveResult(saved=False, state=_state(image))
        s.add(
            LabelEvent(
                image_id=image_id,
                author=author,
                label=label,
                defect_type=defect_type,
                mask_relpath=mask_relpath,
                version=image.label_version,
                created_at=now,
            )
        )
        return SaveResult(saved=True, state=_state(image))


def label_history(store: Store, image_id: int) -> list[LabelEvent]:
    """Every label change of an image, newest first."""
    with store.session() as s:
        return list(
            s.scalars(
                select(LabelEvent).where(LabelEvent.image_id == image_id).order_by(LabelEvent.id.desc())
            )
        )


def defect_types(store: Store, dataset_id: int) -> list[str]:
    """Defect types already used in a dataset, sorted."""
    with store.session() as s:
        rows = s.scalars(
            select(Image.defect_type)
            .where(
                Image.dataset_id == dataset_id, Image.defect_type.is_not(None), Image.defect_type != NORMAL
            )
            .distinct()
        )
        return sorted(rows)


def labeled_anomalies(store: Store, dataset_id: int, by_person_only: bool = True) -> list[str]:
    """Names (relpaths) of images labeled anomalous, newest label first; by default only those set by a person
    in the dashboard (imported folder labels have no author)."""
    with store.session() as s:
        query = select(Image.relpath).where(Image.dataset_id == dataset_id, Image.label == 1)
        if by_person_only:
            query = query.where(Image.labeled_by.is_not(None))
        return list(s.scalars(query.order_by(Image.labeled_at.desc(), Image.relpath)))


# --- "suggest next" ------------------------------------------------------------------------------


def latest_method_scores(store: Store, dataset_name: str) -> dict[str, dict[str, float]]:
    """{method: {image name: normalised score}} from the latest FINISHED run of each method on a dataset."""
    with store.session() as s:
        active = s.scalar(
            select(Dataset.id).where(Dataset.name == dataset_name, Dataset.deleted_at.is_(None))
        )
        query = select(Run.method, Run.id).where(Run.dataset_name == dataset_name, Run.status == "FINISHED")
        if active is not None:
            query = query.where(Run.dataset_id == active)  # not the runs of a deleted namesake
        latest: dict[str, int] = {}
        for method, run_id in s.execute(query.order_by(Run.id)):
            latest[method] = run_id
        scores: dict[str, dict[str, float]] = {}
        for method, run_id in latest.items():
            rows = s.execute(
                select(ImagePrediction.image_name, ImagePrediction.score_normalized).where(
                    ImagePrediction.run_id == run_id
                )
            )
            scores[method] = {name: float(value) for name, value in rows}
        return scores


@dataclass(frozen=True)
class Suggestion:
    name: str
    mean: float | None  # mean normalised score over methods (0.5 = the most normal training image's score)
    spread: float | None  # standard deviation over methods
    methods: int  # how many methods scored this image
    priority: float  # higher = label sooner


def rank_for_labeling(
    names: Sequence[str], scores: Mapping[str, Mapping[str, float]], strategy: str = "disagreement"
) -> list[Suggestion]:
    """`names` ordered for labeling: by how much the methods disagree (std of their normalised scores) or how
    uncertain the ensemble is (mean close to 0.5). Images no method scored come last, in the given order."""
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}; choose from {list(STRATEGIES)}")
    ranked, unscored = [], []
    for name in names:
        values = np.array([per[name] for per in scores.values() if name in per], dtype=np.float64)
        if values.size == 0:
            unscored.append(Suggestion(name, None, None, 0, float("-inf")))
            continue
        mean, spread = float(values.mean()), float(values.std())
        priority = spread if strategy == "disagreement" else -abs(mean - 0.5)
        ranked.append(Suggestion(name, mean, spread, int(values.size), priority))
    ranked.sort(key=lambda s: -s.priority)  # stable: ties keep file order
    return ranked + unscored


def add_images(store: Store, dataset_id: int, rows: Sequence[db_datasets.ImageRow]) -> list[int]:
    """Record new images of an existing dataset (e.g. test images uploaded for labeling); returns their ids."""
    with store.session() as s:
        if s.get(Dataset, dataset_id) is None:
            raise KeyError(f"no dataset with id {dataset_id}")
        images = [Image(dataset_id=dataset_id, **vars(row)) for row in rows]
        s.add_all(images)
        s.flush()
        return [image.id for image in images]


def known_hashes(store: Store, dataset_id: int) -> dict[str, str]:
    """{sha256: relpath} of a dataset's images (to skip duplicates on upload)."""
    with store.session() as s:
        return dict(
            s.execute(select(Image.sha256, Image.relpath).where(Image.dataset_id == dataset_id)).all()
        )


@dataclass(frozen=True)
class ScoredLabel:
    """A labeled image as a run is evaluated on it: its name (relpath), label, defect type and mask file."""

    name: str
    label: int
    defect_type: str
    mask_relpath: str | None


def scored_labels(store: Store, dataset_name: str) -> tuple[str, list[ScoredLabel]] | None:
    """(image folder, the images a run on `dataset_name` is evaluated on now), by the rule of the engine's
    stored-dataset loader: test images with a label, and train images labeled anomalous. None when the name
    is not a stored dataset (a built-in set: its labels never change)."""
    record = db_datasets.get_dataset(store, dataset_name)
    if record is None:
        return None
    out = []
    for row in db_datasets.list_images(store, record.id):
        if row.label is None or (row.split != "test" and row.label != 1):
            continue
        defect = (
            NORMAL
            if row.label == 0
            else row.defect_type
            if row.defect_type not in (None, NORMAL)
            else "anomaly"
        )
        out.append(ScoredLabel(row.relpath, int(row.label), defect, row.mask_relpath))
    return str(record.root), out
