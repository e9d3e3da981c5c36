"""Score new images, without widgets: the batch (uploaded images and zips, or the dataset's unlabeled images; at
most MAX_IMAGES in the page), the run it defaults to, scoring with a saved run into cards, highest score first
(the image as the run saw it with its anomaly map on top), and sending picked cards to the Label page as
unlabeled test images, each with a note of its score on the image."""

from __future__ import annotations

import hashlib
import tempfile
import uuid
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np

from dashboard import model_cache, pictures
from dashboard.messages import for_people
from dashboard.model_cache import LoadedModel
from dashboard.run_info import RunInfo
from db import comments, labels
from db import datasets as db_datasets
from db.store import Store
from engine.batch_images import BatchItem, Source, batched, list_sources, read_sources
from engine.data.additions import add_test_images
from engine.data.types import DatasetError
from engine.methods.catalog import ENSEMBLE

MAX_IMAGES = 64  # scored in the page process; more go to `python -m engine predict`
CARD_PX = 192
MAP_ALPHA = 0.5
NOTE_MARK = "on the Score new images page"  # in every score note, so the Label page can find them


class TooManyImages(ValueError):
    """A batch larger than the page scores; the message says what to run instead."""


@dataclass(frozen=True)
class Scored:
    """One image scored by a saved run."""

    index: int  # its position among the items given
    name: str
    score: float  # raw
    score_normalized: float  # 0-1 against the run's normal training scores (0.5: the highest of them)
    anomalous: bool  # above the run's threshold
    picture: np.ndarray  # (H, W) or (H, W, 3) uint8: the image as the run saw it
    anomaly_map: np.ndarray  # (H, W) float32


def score_items(loaded: LoadedModel, items: Iterable[BatchItem]) -> list[Scored]:
    """The readable items scored in batches of the run's size, in their order (unreadable ones left out)."""
    model = loaded.model
    size = int(getattr(model.method.params, "batch_size", 32))
    scored: list[Scored] = []
    first = 0
    for batch in batched(items, size):
        good = [(first + i, item) for i, item in enumerate(batch) if item.image is not None]
        first += len(batch)
        if not good:
            continue
        inputs = model.prepare([item.image for _, item in good])  # (N, C, H, W) in [0, 1]
        with loaded.lock:
            pred = model.score(inputs)
        raw = pred.score.numpy().astype(np.float64)
        normalized = model.normalize(raw)
        for k, (index, item) in enumerate(good):
            scored.append(
                Scored(
                    index=index,
                    name=item.name,
                    score=float(raw[k]),
                    score_normalized=float(normalized[k]),
                    anomalous=bool(raw[k] > model.threshold),
                    picture=pictures.to_uint8(inputs[k].numpy()),
                    anomaly_map=np.asarray(pred.anomaly_map[k], dtype=np.float32),
                )
            )
    return scored


@dataclass(frozen=True)
class Card:
    """One image of the gallery."""

    name: str
    score: float
    score_normalized: float
    anomalous: bool
    overlay: bytes  # PNG: the image as the run saw it, its map blended on (dark = low, bright = high)
    data: bytes | None  # the uploaded file (to send to the Label page); None for an image of the dataset
    relpath: str | None  # its name in the dataset, for an image of the dataset

    @property
    def decision(self) -> str:
        return "anomalous" if self.anomalous else "normal"


@dataclass(frozen=True)
class Scoring:
    """A scored batch: cards highest score first and the files that could not be scored, with why."""

    dataset: str
    run_id: int
    method: str
    threshold_normalized: float  # the run's threshold on the normalised scale
    map_range: tuple[float, float]  # the run's map values shown darkest and brightest
    cards: tuple[Card, ...]
    bad: tuple[str, ...]  # one sentence per file, naming it
    key: str  # new for every scoring: the keys of its pick boxes

    @property
    def label(self) -> str:
        return f"{self.method} #{self.run_id}"


def model_runs(runs: Sequence[RunInfo]) -> list[RunInfo]:
    """The runs that can be models (an ensemble has no model of its own)."""
    return [run for run in runs if run.method != ENSEMBLE]


def default_run(runs: Sequence[RunInfo], champion: int | None) -> tuple[int, str]:
    """The run to score with unless one is chosen, and why: the dataset's champion, else the best image AUROC."""
    if champion in {run.id for run in runs}:
        return int(champion), "the dataset's champion in the model registry"
    best = max(runs, key=lambda r: (r.image_auroc is not None, r.image_auroc or 0.0, r.id))
    return best.id, "the finished run with the best image AUROC (the dataset has no champion yet)"


def _check_count(sources: Sequence[Source], run_id: int, rest: str) -> None:
    n = sum(1 for s in sources if s.problem is None)
    if n > MAX_IMAGES:
        raise TooManyImages(
            f"{n} images are more than this page scores at once ({MAX_IMAGES}); score them with "
            f"python -m engine predict --run {run_id} {rest}."
        )


def _file_bytes(source: Source) -> bytes:
    if source.member is None:
        return source.path.read_bytes()
    with zipfile.ZipFile(source.path) as archive:
        return archive.read(source.member)


def _scoring(
    dataset: str,
    loaded: LoadedModel,
    sources: list[Source],
    bad: list[str],
    names: dict[str, str],
    kept: bool,
) -> Scoring:
    """Score `sources`; `kept`: keep each file's bytes on its card (uploads, to send them to the Label page)."""
    items = list(read_sources(sources))
    scored = score_items(loaded, items)
    bad = bad + [
        for_people(item.error or f"{item.name}: unreadable", names) for item in items if item.image is None
    ]
    model, (lo, hi) = loaded.model, loaded.model.map_range
    cards = [
        Card(
            name=s.name,
            score=s.score,
            score_normalized=s.score_normalized,
            anomalous=s.anomalous,
            overlay=pictures.png_bytes(
                pictures.overlay(s.picture, s.anomaly_map, MAP_ALPHA, lo, hi), CARD_PX
            ),
            data=_file_bytes(sources[s.index]) if kept else None,
            relpath=None if kept else sources[s.index].name,
        )
        for s in scored
    ]
    cards.sort(key=lambda c: (-c.score_normalized, -c.score, c.name))
    return Scoring(
        dataset=dataset,
        run_id=model.run_id,
        method=model.method_key,
        threshold_normalized=float(model.normalize(np.array([model.threshold]))[0]),
        map_range=(lo, hi),
        cards=tuple(cards),
        bad=tuple(bad),
        key=uuid.uuid4().hex[:8],
    )


def score_uploads(dataset: str, run_id: int, files: Sequence[tuple[str, bytes]]) -> Scoring:
    """Score uploaded `(file name, bytes)`: images, and zips of images read as an import reads them."""
    if not files:
        raise ValueError("choose image files or a .zip of images to score")
    with tempfile.TemporaryDirectory(prefix="workbench-score-") as tmp:
        sources, bad, names = [], [], {}
        for i, (name, data) in enumerate(files):
            base = PurePosixPath(str(name).replace("\\", "/")).name
            path = Path(tmp) / str(i) / (base if base not in ("", ".", "..") else "upload")
            path.parent.mkdir()
            path.write_bytes(data)
            names[str(path)] = path.name
            try:
                sources += list_sources([path])
            except DatasetError as exc:  # an unreadable or unsafe zip, a zip with no files
                bad.append(for_people(str(exc), names))
        _check_count(sources, run_id, "followed by the folder or .zip that holds them")
        return _scoring(dataset, model_cache.model(run_id), sources, bad, names, kept=True)


def score_unlabeled(dataset: str, run_id: int, store: Store | None = None) -> Scoring:
    """Score the unlabeled images of a stored dataset."""
    store = store or Store.at()
    record = db_datasets.get_dataset(store, dataset)
    if record is None:
        raise ValueError(
            f"{dataset} is a built-in dataset and has no unlabeled images; upload images instead"
        )
    rows = [r for r in db_datasets.list_images(store, record.id) if r.label is None]
    if not rows:
        raise ValueError(
            f"{dataset} has no unlabeled images; add some on the Label page or upload images here"
        )
    sources = [Source(r.relpath, Path(record.root) / r.relpath) for r in rows]
    _check_count(sources, run_id, f"--dataset {dataset}")
    return _scoring(dataset, model_cache.model(run_id), sources, [], {}, kept=False)


def note_text(scoring: Scoring, card: Card) -> str:
    """The note left on an image sent to the Label page."""
    return (
        f"Scored {card.score_normalized:.2f} (normalised; threshold {scoring.threshold_normalized:.2f}) by run "
        f"#{scoring.run_id} ({scoring.method}) {NOTE_MARK}: {card.decision}."
    )


@dataclass(frozen=True)
class Sent:
    """What sending did: images added, images the dataset held already, files refused (with why)."""

    added: int
    already: int
    skipped: tuple[str, ...]


def send_to_label(scoring: Scoring, picked: Sequence[Card], author: str, store: Store | None = None) -> Sent:
    """Add the picked uploads to the dataset's test split as unlabeled images (engine.data.additions) and note
    each picked image's score on it (a comment on the image and the run, shown on the Label and Review pages);
    the run's scores of them join Suggest next's scores when it is the latest run of its method."""
    store = store or Store.at()
    record = db_datasets.get_dataset(store, scoring.dataset)
    if record is None:
        raise ValueError(
            f"{scoring.dataset} is a built-in dataset, which takes no new images; import a dataset to label them"
        )
    uploads = [(card.name, card.data) for card in picked if card.data is not None]
    report = add_test_images(scoring.dataset, uploads, store) if uploads else None
    known = labels.known_hashes(store, record.id)
    where: dict[str, Card] = {}
    for card in picked:
        relpath = card.relpath or known.get(hashlib.sha256(card.data or b"").hexdigest())
        if relpath:
            where[relpath] = card
    for relpath, card in where.items():
        comments.add_comment(
            store,
            scoring.dataset,
            author,
            note_text(scoring, card),
            run_id=scoring.run_id,
            image_name=relpath,
        )
    model_cache.remember(scoring.run_id, {relpath: card.score_normalized for relpath, card in where.items()})
    added = report.total if report else 0
    return Sent(
        added, len(where) - added, tuple(f"{f}: {why}" for f, why in (report.skipped if report else []))
    )


def score_notes(dataset: str, relpath: str, store: Store | None = None) -> list[str]:
    """The score notes left on an image sent from this page, oldest first."""
    store = store or Store.at()
    rows = comments.list_comments(store, dataset, image_name=relpath)
    return [row.text for row in rows if NOTE_MARK in row.text and row.parent_id is None]
