"""What the Datasets page shows and does, without widgets: overview rows, sample pictures, staging uploads."""

from __future__ import annotations

import zipfile
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from db.datasets import DatasetSummary
from engine.data import load_dataset
from engine.data.additions import safe_file_name
from engine.data.images import IMAGE_SUFFIXES
from engine.data.importer import IGNORED_ZIP_PARTS
from engine.data.types import NORMAL, DatasetError

COLUMNS = (
    "dataset",
    "kind",
    "train normal",
    "test normal",
    "test anomalous",
    "unlabeled",
    "runs",
    "defect types",  # last: the built-in sets list nine digits here, which would push later columns off
)


@dataclass(frozen=True)
class Overview:
    """One dataset's row of the overview table and a few sample pictures (PNG bytes, caption)."""

    row: dict[str, object]
    samples: tuple[tuple[bytes, str], ...]


def summary_row(summary: DatasetSummary) -> dict[str, object]:
    defects = ", ".join(f"{name} ({n})" for name, n in sorted(summary.defect_counts.items()))
    return {
        "dataset": summary.name,
        "kind": summary.kind,
        "train normal": summary.count("train", "normal") + summary.count("train", "unlabeled"),
        "test normal": summary.count("test", "normal"),
        "test anomalous": summary.count("test", "anomalous") + summary.count("train", "anomalous"),
        "unlabeled": summary.count("test", "unlabeled"),
        "defect types": defects or "-",
        "runs": summary.runs,
    }


def sample_paths(summary: DatasetSummary, images: list, per_group: int = 4) -> list[tuple[Path, str]]:
    """Up to `per_group` images of each (split, defect type or 'unlabeled') group: (file path, caption)."""
    root = Path(summary.root)
    taken: Counter[tuple[str, str]] = Counter()
    out = []
    for image in images:
        group = (image.split, image.defect_type or "unlabeled")
        if taken[group] >= per_group:
            continue
        taken[group] += 1
        out.append((root / image.relpath, f"{group[0]}/{group[1]}"))
    return out


def builtin_overview(name: str) -> tuple[dict[str, object], object, list[tuple[int, str]]]:
    """Row of a built-in set, its loaded data and (index into train/test concatenation, caption) samples."""
    data = load_dataset(name)
    test_defects = Counter(d for d in data.test.defect_types if d != NORMAL)
    row = {
        "dataset": name,
        "kind": "builtin",
        "train normal": len(data.train),
        "test normal": sum(1 for d in data.test.defect_types if d == NORMAL),
        "test anomalous": sum(test_defects.values()),
        "unlabeled": 0,
        "defect types": ", ".join(f"{k} ({n})" for k, n in sorted(test_defects.items())),
        "runs": 0,  # the page counts them (builtin_run_counts): the overview is cached per process
    }
    samples: list[tuple[int, str]] = [(i, "train/good") for i in range(min(4, len(data.train)))]
    seen: Counter[str] = Counter()
    for i, defect in enumerate(data.test.defect_types):
        if seen[defect] < 2:
            seen[defect] += 1
            samples.append((len(data.train) + i, f"test/{defect}"))
    return row, data, samples


def builtin_run_counts(names: Iterable[str], run_datasets: Iterable[str]) -> Counter[str]:
    """Runs per built-in set, its variants included (a run on 'mnist:3' counts for 'mnist')."""
    wanted = set(names)
    return Counter(base for d in run_datasets if (base := d.partition(":")[0]) in wanted)


def zip_non_images(path: Path) -> list[tuple[str, str]]:
    """(member, reason) for each file in the zip at `path` that the import leaves out as not an image (what the
    importer ignores anyway, folders, hidden files and __MACOSX, is not listed); [] for an unreadable zip."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = [i.filename for i in archive.infolist() if not i.is_dir()]
    except (zipfile.BadZipFile, OSError):
        return []  # the import says why in one sentence
    kinds = ", ".join(sorted(IMAGE_SUFFIXES))
    return [
        (name, f"not an image ({PurePosixPath(name).suffix or 'no suffix'}); only {kinds} files are imported")
        for name in names
        if PurePosixPath(name).suffix.lower() not in IMAGE_SUFFIXES
        and not any(
            p in IGNORED_ZIP_PARTS or p.startswith(".") for p in name.replace("\\", "/").split("/") if p
        )
    ]


def stage_upload(files: list[tuple[str, bytes]], folder: Path) -> tuple[Path, list[tuple[str, str]]]:
    """Write uploaded files under `folder` with checked names; returns what to import (one zip, or a folder of
    images) and the files refused by name."""
    if not files:
        raise DatasetError("no files uploaded; choose a zip or some image files")
    zips = [(n, d) for n, d in files if n.lower().endswith(".zip")]
    if zips and len(files) > 1:
        raise DatasetError(
            f"upload either one zip or image files, not {len(zips)} zip(s) with {len(files) - len(zips)} other file(s)"
        )
    folder.mkdir(parents=True, exist_ok=True)
    if zips:
        target = folder / "upload.zip"  # the uploaded name never becomes a path
        target.write_bytes(zips[0][1])
        return target, zip_non_images(target)
    images = folder / "images"
    images.mkdir(exist_ok=True)
    refused = []
    for name, data in files:
        try:
            safe = safe_file_name(name)
        except DatasetError as exc:
            refused.append((name, str(exc)))
            continue
        path, n = images / safe, 1
        while path.exists():
            path, n = images / f"{Path(safe).stem}_{n}{Path(safe).suffix}", n + 1
        path.write_bytes(data)
    return images, refused
