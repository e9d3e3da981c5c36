"""Per-image test scores of benchmark runs (ours and peer libraries'), one CSV per (dataset, impl, method), so that
two implementations scored on the same images compare by a paired bootstrap (engine.bootstrap)."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from engine.bootstrap import Interval, auroc_difference, shared_images
from engine.csv_cells import csv_cell

COLUMNS = ["name", "label", "score"]


def scores_path(folder: Path, dataset: str, impl: str, method: str) -> Path:
    return folder / f"{dataset}-{impl}-{method}.csv"


def write_scores(path: Path, names: Sequence[str], labels: Sequence[int], scores: Sequence[float]) -> None:
    """One row per test image: its name relative to the dataset folder (e.g. test/cut/001.png), label, score."""
    if not len(names) == len(labels) == len(scores):
        raise ValueError(f"{path.name}: {len(names)} names, {len(labels)} labels and {len(scores)} scores")
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        writer.writerows(
            (csv_cell(n), int(y), float(s)) for n, y, s in zip(names, labels, scores, strict=True)
        )


def read_scores(path: Path) -> dict[str, tuple[int, float]]:
    with path.open(newline="") as handle:
        return {r["name"]: (int(r["label"]), float(r["score"])) for r in csv.DictReader(handle)}


def paired_difference(ours: Path, theirs: Path) -> Interval | None:
    """Our AUROC minus theirs on the images both scored with the same label, with its paired 95% interval; None
    when either file is missing or they share no such image."""
    if not (ours.is_file() and theirs.is_file()):
        return None
    a, b = read_scores(ours), read_scores(theirs)

    def columns(scored: dict[str, tuple[int, float]]) -> tuple[list[str], np.ndarray, np.ndarray]:
        names = list(scored)
        return names, np.array([scored[n][0] for n in names]), np.array([scored[n][1] for n in names])

    shared = shared_images(columns(a), columns(b))
    return None if shared is None else auroc_difference(*shared)
