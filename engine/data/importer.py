"""Importing a folder or zip (MVTec AD layout, or a flat folder of normal images) into the managed data
directory and the results store: every image validated and hashed, bad files skipped, nothing half-imported."""

from __future__ import annotations

import errno
import os
import re
import shutil
import stat
import tempfile
import zipfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from db import datasets as db_datasets
from db.datasets import ImageRow
from db.locations import data_dir as default_data_dir
from db.store import Store
from engine.data.images import IMAGE_SUFFIXES, MAX_FILE_BYTES, read_image
from engine.data.leftovers import MANIFEST_FILE, owned, tidy_data_dir, unrecorded, write_manifest
from engine.data.mvtec import is_mvtec_folder, scan_flat, scan_mvtec
from engine.data.names import check_dataset_name
from engine.data.types import NORMAL, DatasetError, ImageItem

MAX_ZIP_TOTAL_BYTES = 2 * 1024**3  # uncompressed, from the zip directory
MAX_ZIP_MEMBERS = 200_000
IGNORED_ZIP_PARTS = ("__MACOSX",)


@dataclass
class ImportReport:
    """What an import did: counts per (split, defect type), skipped files and duplicates by name."""

    name: str
    root: Path
    counts: dict[tuple[str, str], int] = field(default_factory=dict)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (file name, reason)
    duplicates: list[tuple[str, str]] = field(default_factory=list)  # (skipped name, kept name)
    kind: str = "mvtec"  # or "flat"
    channels: int = 3

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def validate_name(name: str, store: Store | None = None) -> None:
    """A valid new name (see engine.data.names) that is not in the store yet; raises DatasetError."""
    store = store or Store.at()
    check_dataset_name(name)
    if db_datasets.get_dataset(store, name) is not None:
        raise DatasetError(f"a dataset named {name!r} already exists; pick another name")


def check_zip(archive: zipfile.ZipFile, source: Path) -> list[zipfile.ZipInfo]:
    """The image members to extract, after refusing unsafe members and sizes over the limits."""
    infos = archive.infolist()
    if len(infos) > MAX_ZIP_MEMBERS:
        raise DatasetError(f"zip {source} has {len(infos)} members; the limit is {MAX_ZIP_MEMBERS}")
    members, total = [], 0
    for info in infos:
        name = info.filename
        parts = name.replace("\\", "/").split("/")
        if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name) or ".." in parts:
            raise DatasetError(
                f"zip {source} has an unsafe member path {name!r} (absolute, drive letter or '..')"
            )
        if stat.S_ISLNK(info.external_attr >> 16):
            raise DatasetError(f"zip {source} has a symbolic link {name!r}; links are not allowed")
        if info.flag_bits & 0x1:
            raise DatasetError(
                f"zip {source} has an encrypted member {name!r}; encrypted zips are not supported"
            )
        if info.is_dir() or any(p in IGNORED_ZIP_PARTS or p.startswith(".") for p in parts if p):
            continue
        if PurePosixPath(name.replace("\\", "/")).suffix.lower() not in IMAGE_SUFFIXES:
            continue
        if info.file_size > MAX_FILE_BYTES:
            raise DatasetError(
                f"zip member {name!r} is {info.file_size / 2**20:.1f} MB uncompressed; "
                f"the per-image limit is {MAX_FILE_BYTES // 2**20} MB"
            )
        total += info.file_size
        members.append(info)
    if total > MAX_ZIP_TOTAL_BYTES:
        raise DatasetError(
            f"zip {source} holds {total / 2**30:.2f} GB of images uncompressed; the limit is "
            f"{MAX_ZIP_TOTAL_BYTES / 2**30:.0f} GB"
        )
    return members


def extract_zip(source: Path, target: Path, skipped: list[tuple[str, str]]) -> Path:
    """Extract the images of a checked zip into `target`; returns the content root (one top folder is skipped).

    Members whose names the file system cannot hold are left out, each added to `skipped` with the reason."""
    target.mkdir(parents=True, exist_ok=True)
    name_max = os.pathconf(target, "PC_NAME_MAX")
    try:
        with zipfile.ZipFile(source) as archive:
            for info in check_zip(archive, source):
                parts = [p for p in info.filename.replace("\\", "/").split("/") if p]
                longest = max(len(os.fsencode(p)) for p in parts)
                if longest > name_max:
                    reason = (
                        f"a name in its path is {longest} bytes; the file system allows at most {name_max}"
                    )
                    skipped.append((info.filename, reason))
                    continue
                try:
                    _extract(archive, info, target.joinpath(*parts))
                except OSError as exc:
                    if exc.errno != errno.ENAMETOOLONG:
                        raise
                    skipped.append((info.filename, "its path is too long for the file system"))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, EOFError) as exc:
        raise DatasetError(f"cannot read zip {source}: {exc}") from exc
    root = target
    while True:
        entries = [p for p in root.iterdir() if not p.name.startswith(".")]
        if len(entries) == 1 and entries[0].is_dir() and not is_mvtec_folder(root):
            root = entries[0]
        else:
            return root


def _extract(archive: zipfile.ZipFile, info: zipfile.ZipInfo, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    with archive.open(info) as src, open(dest, "wb") as out:
        copied = 0
        while chunk := src.read(1 << 20):
            copied += len(chunk)
            if copied > info.file_size:  # zipfile checks this too; be explicit about the bound
                raise DatasetError(f"zip member {info.filename!r} is larger than its directory says")
            out.write(chunk)


def import_dataset(
    source: Path,
    name: str,
    data_dir: Path | None = None,
    store: Store | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> ImportReport:
    """Copy a category folder, a flat folder of normal images or a .zip of either into `data_dir/<name>/`
    (MVTec AD layout) and record every image in the store; on any failure nothing is left behind."""
    store = store or Store.at()
    source = Path(source)
    check_dataset_name(name)
    data_dir = Path(data_dir).resolve() if data_dir is not None else default_data_dir()
    tidy_data_dir(data_dir, store)  # what killed imports left; may record a dataset of this name
    validate_name(name, store)
    final = data_dir / name
    if final.exists() and not unrecorded(final, store):  # unrecorded: left by a killed import, replaced
        raise DatasetError(f"a folder named {name!r} already exists in the data directory; pick another name")
    if not source.exists():
        raise DatasetError(f"import source {source} does not exist; give a folder or a .zip file")
    if source.is_file() and source.suffix.lower() != ".zip":
        raise DatasetError(f"import source {source} is a file but not a .zip; give a folder or a .zip file")
    data_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".import-{name}-", dir=data_dir))
    try:
        with owned(work):  # a tidy by another process leaves `work` (and `final` until recorded) alone
            _take_unrecorded(final, work / "replaced", name, store)
            skipped: list[tuple[str, str]] = []
            content = extract_zip(source, work / "source", skipped) if source.is_file() else source
            kind = "mvtec" if is_mvtec_folder(content) else "flat"
            items = scan_mvtec(content) if kind == "mvtec" else scan_flat(content)
            report, rows = _copy_items(items, work / "out", name, final, kind, progress, skipped)
            write_manifest(work / "out", name, kind, report.channels, rows, work)  # if killed: recorded later
            _claim(work / "out", final, name)
            try:
                db_datasets.add_dataset(store, name, kind, str(final), report.channels, rows)
            except Exception:
                shutil.rmtree(final, ignore_errors=True)
                raise
            (final / MANIFEST_FILE).unlink(missing_ok=True)
    except DatasetError:
        raise
    except ValueError as exc:  # the store refuses a name taken meanwhile by another import
        raise DatasetError(str(exc)) from exc
    except OSError as exc:  # disk full, permissions: said without the server's paths
        raise DatasetError(
            f"importing {name!r} failed writing the data directory: {exc.strerror or exc}"
        ) from exc
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return report


def _claim(out: Path, final: Path, name: str) -> None:
    """Move the finished copy into place: one rename, so of imports of one name at once exactly one wins."""
    try:
        out.rename(final)
    except OSError as exc:
        if final.exists():
            raise DatasetError(
                f"a dataset named {name!r} already exists (imported meanwhile by someone else); pick another name"
            ) from exc
        raise


def _take_unrecorded(final: Path, aside: Path, name: str, store: Store) -> None:
    """Move a folder at `final` that no dataset records (see `leftovers.unrecorded`) to `aside`, to be removed with
    it; moved back, and the import refused, when it turns out to be another import's, moved into place meanwhile."""
    try:
        final.rename(aside)
    except FileNotFoundError:  # none, or moved by another import of this name
        return
    if not unrecorded(aside, store, name):
        aside.rename(final)
        raise DatasetError(
            f"a dataset named {name!r} already exists (imported meanwhile by someone else); pick another name"
        )


def _copy_items(
    items: list[ImageItem],
    out: Path,
    name: str,
    final: Path,
    kind: str,
    progress: Callable[[int, int], None] | None,
    skipped: list[tuple[str, str]],
) -> tuple[ImportReport, list[ImageRow]]:
    """Validate, deduplicate and copy items into `out`; returns the report (after the `skipped` given) and the
    store rows."""
    report = ImportReport(name=name, root=final, kind=kind, channels=3, skipped=skipped)
    rows: list[ImageRow] = []
    first_by_hash: dict[str, str] = {}
    train_channels: list[int] = []
    for done, item in enumerate(items, start=1):
        row = _copy_item(item, out, report, first_by_hash)
        if row is not None:
            rows.append(row)
            if row.split == "train":
                train_channels.append(row.channels)
        if progress is not None:
            progress(done, len(items))
    if not train_channels:
        reasons = "; ".join(f"{n}: {r}" for n, r in report.skipped[:5])
        raise DatasetError(
            f"no readable train/{NORMAL} images to import ({len(report.skipped)} skipped: {reasons})"
        )
    report.channels = 1 if all(c == 1 for c in train_channels) else 3
    report.counts = dict(sorted(Counter((row.split, row.defect_type or "unlabeled") for row in rows).items()))
    return report, rows


def _copy_item(
    item: ImageItem, out: Path, report: ImportReport, first_by_hash: dict[str, str]
) -> ImageRow | None:
    """Validate and copy one image (and its mask) into `out`; None when skipped or a duplicate."""
    try:
        _, info = read_image(item.path, item.name)
    except DatasetError as exc:
        report.skipped.append((item.name, str(exc)))
        return None
    if info.sha256 in first_by_hash:
        report.duplicates.append((item.name, first_by_hash[info.sha256]))
        return None
    try:
        _copy(item.path, out / item.name)
    except OSError as exc:
        if exc.errno != errno.ENAMETOOLONG:
            raise
        report.skipped.append((item.name, "its path is too long for the file system"))
        return None
    first_by_hash[info.sha256] = item.name
    mask_relpath = None
    if item.mask_path is not None:
        mask_relpath = f"ground_truth/{item.defect_type}/{item.mask_path.name}"
        try:
            read_image(item.mask_path, mask_relpath)
            _copy(item.mask_path, out / mask_relpath)
        except DatasetError as exc:
            report.skipped.append((mask_relpath, f"{exc}; its image is kept without a mask"))
            mask_relpath = None
    return ImageRow(
        relpath=item.name,
        split=item.split,
        label=item.label,
        defect_type=item.defect_type,
        mask_relpath=mask_relpath,
        sha256=info.sha256,
        width=info.width,
        height=info.height,
        channels=info.channels,
    )


def _copy(src: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dest)
