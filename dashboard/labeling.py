"""What the Label page does, without widgets: the queue of images, saving a label with its mask, conflicts."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from db import labels
from db.labels import LabelState, SaveResult, Suggestion
from db.store import Store
from engine.data import masks

ORDERS = {
    "file order": None,
    "suggest next: methods disagree": "disagreement",
    "suggest next: ensemble unsure": "uncertainty",
}
SPLITS = {"test": "test", "train": "train", "all": None}


def image_queue(
    dataset_id: int,
    split: str,
    only_unlabeled: bool,
    order: str,
    scores: Mapping[str, Mapping[str, float]],
    store: Store | None = None,
) -> tuple[list[LabelState], dict[str, Suggestion]]:
    """Images to step through, in file order or by "suggest next", and the suggestion facts per image name."""
    store = store or Store.at()
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose from {list(SPLITS)}")
    if order not in ORDERS:
        raise ValueError(f"unknown order {order!r}; choose from {list(ORDERS)}")
    states = labels.images_to_label(store, dataset_id, SPLITS[split], only_unlabeled)
    strategy = ORDERS[order]
    if strategy is None:
        return states, {}
    ranked = labels.rank_for_labeling([s.relpath for s in states], scores, strategy)
    by_name = {s.relpath: s for s in states}
    return [by_name[r.name] for r in ranked], {r.name: r for r in ranked}


def shown_image(
    queue: list[LabelState], index: int, pinned: LabelState | None
) -> tuple[int, LabelState | None]:
    """The queue position and the image to show. A pinned image is shown as it was first shown (its version is
    what a save builds on) wherever the queue moved it, and even after it left the queue (someone else labeled
    it under "Only unlabeled"), so that a save lands or shows the conflict; otherwise `queue[index]`."""
    if pinned is not None:
        where = next((i for i, s in enumerate(queue) if s.image_id == pinned.image_id), None)
        return (index if where is None else where), pinned
    if not queue:
        return 0, None
    index %= len(queue)
    return index, queue[index]


def early_press(pressed: LabelState, shown: LabelState | None, last_save: tuple[int, int] | None) -> bool:
    """Whether a label button's press belongs to an image no longer shown: a key pressed again before the next
    image appeared acts on the button of the last page drawn, so it names another image than the one now shown
    (`shown`), or the one this session has just saved on top of the same version (`last_save`: image id and the
    version it was shown at)."""
    if shown is not None and shown.image_id != pressed.image_id:
        return True
    return last_save == (pressed.image_id, pressed.version)


def has_strokes(strokes: np.ndarray | None) -> bool:
    return (
        strokes is not None
        and np.asarray(strokes).ndim == 3
        and bool((np.asarray(strokes)[..., 3] >= 128).any())
    )


@dataclass(frozen=True)
class Change:
    """A label someone wants to save (the mask file is already written when `new_mask`)."""

    image_id: int
    label: int | None
    defect_type: str | None
    mask_relpath: str | None
    new_mask: bool

    @property
    def text(self) -> str:
        if self.label is None:
            return "unlabeled"
        if self.label == 0:
            return "normal"
        return f"anomalous ({self.defect_type}){' with a new mask' if self.new_mask else ''}"


@dataclass(frozen=True)
class Conflict:
    """A save refused because someone else saved first: both values, for the person to choose."""

    mine: Change
    theirs: LabelState
    shown_version: int


def prepare(
    root: Path,
    state: LabelState,
    label: int | None,
    defect_type: str | None,
    strokes: np.ndarray | None,
    size: tuple[int, int],
) -> Change:
    """Check the defect type and write a new mask file when strokes were drawn on an anomalous image."""
    if label != 1:
        return Change(state.image_id, label, None, None, False)
    defect = masks.check_defect_type(defect_type or "")
    if not has_strokes(strokes):
        return Change(state.image_id, 1, defect, state.mask_relpath, False)
    height, width = size
    base = masks.load_mask(root, state.mask_relpath, height, width)
    mask = masks.apply_strokes(base, strokes, height, width)
    relpath = masks.save_mask(root, state.relpath, defect, state.image_id, mask)
    return Change(state.image_id, 1, defect, relpath, True)


def save(
    change: Change, shown_version: int, author: str, store: Store | None = None
) -> SaveResult | Conflict:
    """Save on top of `shown_version`; a Conflict (keeping the new mask file for "use mine") when refused."""
    store = store or Store.at()
    result = labels.save_label(
        store,
        change.image_id,
        shown_version=shown_version,
        author=author,
        label=change.label,
        defect_type=change.defect_type,
        mask_relpath=change.mask_relpath,
    )
    return result if result.saved else Conflict(change, result.state, shown_version)


def resolve(
    conflict: Conflict, keep_mine: bool, author: str, root: Path, store: Store | None = None
) -> SaveResult | Conflict:
    """Overwrite theirs with mine (on top of their version; may conflict again), or drop mine and its mask file."""
    if keep_mine:
        return save(conflict.mine, conflict.theirs.version, author, store)
    if conflict.mine.new_mask and conflict.mine.mask_relpath:
        masks.remove_mask(root, conflict.mine.mask_relpath)
    return SaveResult(saved=False, state=conflict.theirs)


def position_of(queue: list[LabelState], relpath: str) -> int | None:
    """Where the image `relpath` is in the queue, or None when the filters leave it out."""
    return next((i for i, s in enumerate(queue) if s.relpath == relpath), None)


def suggestion_reason(
    hint: Suggestion,
    scores: Mapping[str, Mapping[str, float]],
    run_ids: Mapping[str, int],
    order: str,
) -> str:
    """Why "suggest next" put this image where it is, with each run's normalised score of it."""
    per_run = [
        f"run #{run_ids[m]} ({m}) {per[hint.name]:.2f}" if m in run_ids else f"{m} {per[hint.name]:.2f}"
        for m, per in sorted(scores.items())
        if hint.name in per
    ]
    if not per_run:
        runs = ", ".join(f"#{run_ids[m]}" for m in sorted(run_ids)) or "none yet"
        return (
            f"No method has scored this image (added after the latest runs: {runs}), so it comes after the "
            "scored ones."
        )
    if ORDERS.get(order) == "uncertainty":
        return (
            f"Ensemble unsure: mean score {hint.mean:.2f} is {abs(hint.mean - 0.5):.2f} from the 0.50 "
            f"threshold (the most normal training image's score); {', '.join(per_run)}."
        )
    return f"Methods disagree: spread {hint.spread:.2f} over {', '.join(per_run)}."
