"""The files of a batch to score (image files, folders, .zip archives, or a dataset's test images) read the way an
import reads them (engine.data.images), one at a time: a file that cannot be used becomes (name, reason) and the
rest are kept."""

from __future__ import annotations

import zipfile
from collections.abc import Iterable, Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from PIL import Image
from torch import Tensor

from db import datasets as db_datasets
from db.store import Store
from engine.data.images import IMAGE_SUFFIXES, decode_image, read_image
from engine.data.importer import IGNORED_ZIP_PARTS, check_zip
from engine.data.mvtec import is_mvtec_folder, scan_mvtec
from engine.data.types import DatasetError

NOT_AN_IMAGE = f"not an image file; expected one of {', '.join(IMAGE_SUFFIXES)}"


@dataclass(frozen=True)
class Source:
    """One file of a batch, before reading."""

    name: str  # how results name it: its path inside the folder or zip given, or its file name
    path: Path  # the file, or the zip that holds it
    member: str | None = None  # its name inside the zip at `path`
    problem: str | None = None  # why it is not read, known from its name alone (e.g. a .txt)


@dataclass(frozen=True)
class BatchItem:
    """One file of a batch after reading: its image (mode L or RGB, or a tensor already at a run's size for a
    built-in dataset), or the one sentence saying why it cannot be scored."""

    name: str
    image: Image.Image | Tensor | None = None
    error: str | None = None


def _hidden(parts: Iterable[str]) -> bool:
    return any(part.startswith(".") or part in IGNORED_ZIP_PARTS for part in parts)


def _is_image_name(name: str) -> bool:
    return PurePosixPath(name).suffix.lower() in IMAGE_SUFFIXES


def _folder_sources(root: Path) -> list[Source]:
    files = sorted(p for p in root.rglob("*") if p.is_file() and not _hidden(p.relative_to(root).parts))
    return [
        Source(p.relative_to(root).as_posix(), p, problem=None if _is_image_name(p.name) else NOT_AN_IMAGE)
        for p in files
    ]


def _zip_sources(path: Path) -> list[Source]:
    """Every file in a zip, after the import's safety checks (unsafe paths, links, encryption, sizes)."""
    try:
        with zipfile.ZipFile(path) as archive:
            images = {info.filename for info in check_zip(archive, path)}
            files = [
                info.filename
                for info in archive.infolist()
                if not info.is_dir() and not _hidden(p for p in info.filename.split("/") if p)
            ]
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, EOFError, OSError) as exc:
        raise DatasetError(f"cannot read zip {path}: {exc}") from None
    return [
        Source(name, path, member=name, problem=None if name in images else NOT_AN_IMAGE) for name in files
    ]


def list_sources(paths: Sequence[Path]) -> list[Source]:
    """The files to score from image files, folders (searched recursively) and .zip archives; refuses a path
    that does not exist and a batch with no files at all."""
    sources: list[Source] = []
    for path in map(Path, paths):
        if path.is_dir():
            sources += _folder_sources(path)
        elif path.is_file() and path.suffix.lower() == ".zip":
            sources += _zip_sources(path)
        elif path.is_file():
            sources.append(
                Source(path.name, path, problem=None if _is_image_name(path.name) else NOT_AN_IMAGE)
            )
        else:
            raise DatasetError(f"{path} does not exist; give image files, a folder or a .zip")
    if not sources:
        shown = ", ".join(str(p) for p in paths[:3]) or "no paths"
        raise DatasetError(f"nothing to score: {shown} holds no files")
    return sources


def dataset_sources(name: str, store: Store | None = None) -> list[Source]:
    """A dataset's test images, labeled or not (and train images labeled anomalous, which runs score as test
    images), named as in the dataset: a dataset in the store, or a folder in MVTec AD layout."""
    looks_like_path = "/" in name or "\\" in name
    store = None if looks_like_path else store or Store.at()
    record = None if store is None else db_datasets.get_dataset(store, name)
    if record is not None:
        root = Path(record.root)
        rows = [r for r in db_datasets.list_images(store, record.id) if r.split == "test" or r.label != 0]
        sources = [Source(r.relpath, root / r.relpath) for r in rows]
    elif is_mvtec_folder(Path(name)):
        sources = [Source(item.name, item.path) for item in scan_mvtec(Path(name)) if item.split == "test"]
    else:
        raise DatasetError(
            f"unknown dataset {name!r}: give a dataset in the results store, a built-in one or a folder in "
            "MVTec AD layout"
        )
    if not sources:
        raise DatasetError(f"nothing to score: dataset {name!r} has no test images")
    return sources


def read_sources(sources: Iterable[Source]) -> Iterator[BatchItem]:
    """Each source read and validated as an import does, one at a time (a zip is opened once)."""
    with ExitStack() as stack:
        archives: dict[Path, zipfile.ZipFile] = {}
        for source in sources:
            if source.problem is not None:
                yield BatchItem(source.name, error=f"{source.name}: {source.problem}")
                continue
            try:
                if source.member is None:
                    image = read_image(source.path, source.name)[0]
                else:
                    if source.path not in archives:
                        archives[source.path] = stack.enter_context(zipfile.ZipFile(source.path))
                    data = archives[source.path].read(source.member)  # at most MAX_FILE_BYTES (check_zip)
                    image = decode_image(data, source.name)
            except DatasetError as exc:
                yield BatchItem(source.name, error=str(exc))
            except (OSError, zipfile.BadZipFile, EOFError) as exc:  # unreadable file, broken zip member
                yield BatchItem(source.name, error=f"cannot read image {source.name}: {exc}")
            else:
                yield BatchItem(source.name, image=image)


def batched(items: Iterable[BatchItem], size: int) -> Iterator[list[BatchItem]]:
    """Items in lists of at most `size`, so memory holds one batch of images at a time."""
    batch: list[BatchItem] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch
