"""Export a dataset's labeled images as a zip in MVTec AD layout (`<name>/train/good`, `<name>/test/<type>`,
`<name>/ground_truth/<type>/<stem>_mask.png`) plus `<name>/labels.csv` with who labeled what and when."""

from __future__ import annotations

import csv
import io
import os
import tempfile
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO

import numpy as np
from PIL import Image as PILImage

from db import datasets as db_datasets
from db.store import Store
from engine.csv_cells import csv_cell
from engine.data.leftovers import hold, remove_killed_exports
from engine.data.masks import inside, load_mask
from engine.data.types import NORMAL, DatasetError


@dataclass
class ExportReport:
    name: str
    path: Path
    counts: dict[tuple[str, str], int] = field(default_factory=dict)  # (split, defect type) -> images
    masks: int = 0
    left_out: list[tuple[str, str]] = field(default_factory=list)  # (image, reason)

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def target_folder(split: str, label: int | None, defect_type: str | None) -> tuple[str, str] | None:
    """(split, defect folder) of an image in the export, or None when it is left out (unlabeled test image).

    Train images count as normal unless labeled anomalous, which moves them to the test split."""
    if label == 1:
        defect = defect_type if defect_type and defect_type != NORMAL else "anomaly"
        return "test", defect
    if label == 0 or split == "train":
        return split, NORMAL
    return None


def _unique(folder: str, name: str, used: set[str]) -> str:
    """`name` inside `folder`, or `<stem>_<n><suffix>` when another image took it."""
    stem, suffix = PurePosixPath(name).stem, PurePosixPath(name).suffix
    candidate, n = name, 1
    while f"{folder}/{candidate}".lower() in used:
        candidate, n = f"{stem}_{n}{suffix}", n + 1
    used.add(f"{folder}/{candidate}".lower())
    return candidate


def _mask_png(root: Path, mask_relpath: str, image_path: Path) -> bytes | None:
    with PILImage.open(image_path) as image:
        width, height = image.size
    mask = load_mask(root, mask_relpath, height, width)
    if mask is None:
        return None
    buffer = io.BytesIO()
    PILImage.fromarray(np.where(mask, 255, 0).astype(np.uint8), "L").save(buffer, format="PNG")
    return buffer.getvalue()


def export_mvtec(dataset_name: str, target: Path, store: Store | None = None) -> ExportReport:
    """Write the labeled images of a stored dataset to the zip file `target`; unlabeled test images are left out."""
    store = store or Store.at()
    record = db_datasets.get_dataset(store, dataset_name)
    if record is None:
        names = [d.name for d in db_datasets.list_datasets(store)]
        raise DatasetError(f"no stored dataset named {dataset_name!r} to export; choose from {names}")
    root, name = Path(record.root), record.name
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    report = ExportReport(name=name, path=target)
    counts: Counter[tuple[str, str]] = Counter()
    remove_killed_exports(target.parent)
    # a file of this build's own, renamed over `target` when whole: builds at once each finish with a full zip;
    # locked while it is written, so that only a killed build's file is removed by the line above
    handle, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(handle, "w+b") as file:
            hold(file)
            _write_zip(file, root, name, record.id, store, report, counts)
            if not counts:
                raise DatasetError(f"dataset {name!r} has no labeled images to export")
            file.flush()
            os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    report.counts = dict(sorted(counts.items()))
    return report


def _write_zip(
    tmp: IO[bytes],
    root: Path,
    name: str,
    dataset_id: int,
    store: Store,
    report: ExportReport,
    counts: Counter[tuple[str, str]],
) -> None:
    """The images, masks and labels.csv into the open zip file `tmp`; fills `report` and `counts`."""
    used: set[str] = set()
    rows = []
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as archive:
        for image in db_datasets.list_images(store, dataset_id):
            place = target_folder(image.split, image.label, image.defect_type)
            if place is None:
                report.left_out.append((image.relpath, "unlabeled test image"))
                continue
            source = inside(root, image.relpath)
            if not source.is_file():
                report.left_out.append((image.relpath, "image file missing"))
                continue
            try:
                with_mask = image.label == 1 and image.mask_relpath
                png = _mask_png(root, image.mask_relpath, source) if with_mask else None
            except (OSError, ValueError):  # PIL's UnidentifiedImageError is an OSError
                report.left_out.append((image.relpath, "image or mask file cannot be read"))
                continue
            split, defect = place
            folder = f"{split}/{defect}"
            file_name = _unique(folder, PurePosixPath(image.relpath).name, used)
            archive.write(source, f"{name}/{folder}/{file_name}")
            counts[(split, defect)] += 1
            mask_name = ""
            if png is not None:
                mask_name = f"ground_truth/{defect}/{PurePosixPath(file_name).stem}_mask.png"
                archive.writestr(f"{name}/{mask_name}", png, compress_type=zipfile.ZIP_DEFLATED)
                report.masks += 1
            labeled_at = image.labeled_at.isoformat(timespec="seconds") if image.labeled_at else ""
            rows.append(
                [
                    image.relpath,
                    f"{folder}/{file_name}",
                    mask_name,
                    image.label,
                    defect,
                    image.labeled_by or "",
                    labeled_at,
                ]
            )
        table = io.StringIO()
        writer = csv.writer(table)
        writer.writerow(["source", "image", "mask", "label", "defect_type", "labeled_by", "labeled_at"])
        writer.writerows([csv_cell(cell) for cell in row] for row in rows)
        archive.writestr(f"{name}/labels.csv", table.getvalue(), compress_type=zipfile.ZIP_DEFLATED)
