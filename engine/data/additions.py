"""Adding uploaded images to a stored dataset as unlabeled test images (for the Label page), and the check that
turns an uploaded file name into a safe file name."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from pathlib import Path, PurePosixPath

from db import datasets as db_datasets
from db import labels
from db.store import Store
from engine.data.images import IMAGE_SUFFIXES, MAX_FILE_BYTES, decode_image
from engine.data.importer import ImportReport
from engine.data.masks import inside
from engine.data.types import DatasetError

UNLABELED_FOLDER = "test/unlabeled"


def safe_file_name(name: str) -> str:
    """The base name of an uploaded file with anything but letters, digits, '_', '-', '.' replaced by '_';
    refuses names without an image suffix or that would be hidden."""
    base = PurePosixPath(str(name).replace("\\", "/")).name
    cleaned = re.sub(r"[^A-Za-z0-9_.\-]", "_", base)[-120:]
    suffix = PurePosixPath(cleaned).suffix.lower()
    if suffix not in (*IMAGE_SUFFIXES, ".zip"):
        raise DatasetError(
            f"file {name!r} is not an image or zip; expected one of {', '.join((*IMAGE_SUFFIXES, '.zip'))}"
        )
    if cleaned.startswith(".") or cleaned == suffix:
        cleaned = f"upload{cleaned}" if cleaned == suffix else f"upload_{cleaned.lstrip('.')}"
    return cleaned


def _unique_path(folder: Path, name: str) -> Path:
    path, n = folder / name, 1
    while path.exists():
        path, n = folder / f"{PurePosixPath(name).stem}_{n}{PurePosixPath(name).suffix}", n + 1
    return path


def add_test_images(
    dataset_name: str,
    files: Sequence[tuple[str, bytes]],
    store: Store | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> ImportReport:
    """Validate `(file name, bytes)` uploads and add them to `test/unlabeled/` of a stored dataset.

    Bad files are skipped with their reason, duplicates of images already in the dataset are skipped."""
    store = store or Store.at()
    record = db_datasets.get_dataset(store, dataset_name)
    if record is None:
        names = [d.name for d in db_datasets.list_datasets(store)]
        raise DatasetError(f"no stored dataset named {dataset_name!r}; choose from {names}")
    root = Path(record.root)
    folder = inside(root, UNLABELED_FOLDER)
    report = ImportReport(name=record.name, root=root, kind=record.kind, channels=record.channels)
    seen = labels.known_hashes(store, record.id)
    rows, written = [], []
    try:
        for done, (name, data) in enumerate(files, start=1):
            row = _one(name, data, folder, seen, report, written)
            if row is not None:
                rows.append(row)
            if progress is not None:
                progress(done, len(files))
        if rows:
            labels.add_images(store, record.id, rows)
    except Exception:
        for path in written:
            path.unlink(missing_ok=True)
        raise
    report.counts = {("test", "unlabeled"): len(rows)} if rows else {}
    return report


def _one(
    name: str, data: bytes, folder: Path, seen: dict[str, str], report: ImportReport, written: list[Path]
) -> db_datasets.ImageRow | None:
    try:
        file_name = safe_file_name(name)
        if len(data) > MAX_FILE_BYTES:
            raise DatasetError(f"file {name!r} is over {MAX_FILE_BYTES // 2**20} MB")
        image = decode_image(data, name)
    except DatasetError as exc:
        report.skipped.append((str(name), str(exc)))
        return None
    digest = hashlib.sha256(data).hexdigest()
    if digest in seen:
        report.duplicates.append((str(name), seen[digest]))
        return None
    folder.mkdir(parents=True, exist_ok=True)
    path = _unique_path(folder, file_name)
    path.write_bytes(data)
    written.append(path)
    relpath = f"{UNLABELED_FOLDER}/{path.name}"
    seen[digest] = relpath
    return db_datasets.ImageRow(
        relpath=relpath,
        split="test",
        label=None,
        defect_type=None,
        mask_relpath=None,
        sha256=digest,
        width=image.width,
        height=image.height,
        channels=len(image.getbands()),
    )
