"""Tidying what killed imports and exports leave in the data directory (at `migrate`, each import and export).
A running import flocks the `.owner` file of its `.import-*` staging folder (an upload on the Datasets page, its
`.upload-*` one), a running export its `.tmp` zip; the kernel drops a lock when its process dies (even by
kill -9): only what no live process owns is removed."""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import socket
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from db import datasets as db_datasets
from db.datasets import ImageRow
from db.locations import data_dir as default_data_dir
from db.store import Store
from engine.data.mvtec import is_mvtec_folder

STAGING_PREFIX = ".import-"
UPLOAD_PREFIX = ".upload-"  # the Datasets page's staging folder of an upload, owned like an import's
OWNER_FILE = ".owner"  # in a staging folder: locked by its import while it runs, holds "host:pid"
MANIFEST_FILE = ".import-manifest.json"  # in a dataset folder from its move into place until recorded
EXPORTS_FOLDER = ".exports"
EXPORT_TMP = re.compile(r"\..+\.zip\.[A-Za-z0-9_]{8}\.tmp")  # the names export.py's mkstemp gives
STALE_SECONDS = 3600.0  # how long a leftover without an owner mark (an older version's) is left alone


def hold(handle: IO) -> None:
    """Take the owner lock on an open file; tidying leaves the file (and its folder) alone until it is closed."""
    fcntl.flock(handle, fcntl.LOCK_EX)


@contextmanager
def owned(staging: Path) -> Iterator[None]:
    """Mark `staging` as this process's while the block runs (a locked `.owner` file holding `host:pid`)."""
    with open(staging / OWNER_FILE, "w") as handle:
        hold(handle)
        handle.write(f"{socket.gethostname()}:{os.getpid()}\n")  # after locking: marked means locked
        handle.flush()
        yield


def write_manifest(
    folder: Path, name: str, kind: str, channels: int, rows: Sequence[ImageRow], staging: Path
) -> None:
    """What the store needs to record the dataset in `folder`, kept there until it has (see `tidy_data_dir`)."""
    manifest = {
        "name": name,
        "kind": kind,
        "channels": channels,
        "staging": staging.name,
        "images": [vars(row) for row in rows],
    }
    (folder / MANIFEST_FILE).write_text(json.dumps(manifest))


def unrecorded(folder: Path, store: Store | None = None, name: str | None = None) -> bool:
    """True for a dataset folder (train/good inside) without a manifest that no dataset in the store, deleted or
    not, names (by `name`, default the folder's): an import by an older version killed before recording it. A new
    import of its name replaces it."""
    store = store or Store.at()
    return _unrecorded(folder, db_datasets.recorded_names(store), name)


def _unrecorded(folder: Path, recorded: set[str], name: str | None = None) -> bool:
    return (
        folder.is_dir()
        and not (folder / MANIFEST_FILE).exists()
        and is_mvtec_folder(folder)
        and (name or folder.name) not in recorded
    )


def tidy_data_dir(data_dir: Path | None = None, store: Store | None = None) -> list[str]:
    """Remove the staging folders and export zips of killed imports and exports, record the datasets whose import
    was killed after copying them, and name the folders that hold a dataset the store does not know; one sentence
    each."""
    data_dir = Path(data_dir) if data_dir is not None else default_data_dir()
    if not data_dir.is_dir():
        return []
    removed = []
    for folder in sorted([*data_dir.glob(f"{STAGING_PREFIX}*"), *data_dir.glob(f"{UPLOAD_PREFIX}*")]):
        if folder.is_dir() and not folder.is_symlink() and _staging_abandoned(folder):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder.name)
    said = (
        [f"removed {len(removed)} staging folder(s) of killed imports: {', '.join(removed)}"]
        if removed
        else []
    )
    store = store or Store.at()
    recorded = db_datasets.recorded_names(store)
    for folder in sorted(data_dir.iterdir()):
        if folder.name.startswith(".") or folder.is_symlink() or not folder.is_dir():
            continue
        if (folder / MANIFEST_FILE).is_file():
            said.extend(_record(folder, data_dir, recorded, store))
        elif _unrecorded(folder, recorded):
            said.append(
                f"folder {folder.name!r} in the data directory holds a dataset the store does not know (its import "
                "was killed before recording it); importing again with that name replaces it"
            )
    exports = remove_killed_exports(data_dir / EXPORTS_FOLDER)
    if exports:
        said.append(
            f"removed {len(exports)} half-written export zip(s) of killed exports: {', '.join(exports)}"
        )
    return said


def remove_killed_exports(folder: Path) -> list[str]:
    """Delete the `.tmp` zips in `folder` that no running export owns; returns their names."""
    if not folder.is_dir():
        return []
    removed = []
    for path in sorted(folder.iterdir()):
        if EXPORT_TMP.fullmatch(path.name) and path.is_file() and _abandoned(path, path):
            path.unlink(missing_ok=True)
            removed.append(path.name)
    return removed


def _record(folder: Path, data_dir: Path, recorded: set[str], store: Store) -> list[str]:
    """Record a dataset folder whose import was killed after moving it into place, unless that import still runs."""
    try:
        manifest = json.loads((folder / MANIFEST_FILE).read_text())
        staging = data_dir / manifest["staging"]
        if _owner_state(staging / OWNER_FILE) == "live":
            return []  # being recorded by its import right now
        if manifest["name"] in recorded:  # recorded; killed before removing the manifest
            (folder / MANIFEST_FILE).unlink(missing_ok=True)
            return []
        rows = [ImageRow(**row) for row in manifest["images"]]
        db_datasets.add_dataset(
            store, manifest["name"], manifest["kind"], str(folder), manifest["channels"], rows
        )
    except FileNotFoundError:  # recorded and tidied meanwhile by its import or another process
        return []
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        return [f"folder {folder.name!r} has an unreadable {MANIFEST_FILE} ({exc}); it was left as it is"]
    except ValueError:  # the name was recorded meanwhile by another process
        return []
    (folder / MANIFEST_FILE).unlink(missing_ok=True)
    return [
        f"recorded dataset {manifest['name']!r} ({len(rows)} images): its import was killed after copying the "
        "images, before recording them"
    ]


def _staging_abandoned(folder: Path) -> bool:
    return _abandoned(folder / OWNER_FILE, folder)


def _abandoned(marker: Path, leftover: Path) -> bool:
    """No live process owns `marker`: unlocked and written (its owner ended), or unmarked and `leftover` old."""
    state = _owner_state(marker)
    if state == "unmarked":
        return time.time() - _newest_mtime(leftover) > STALE_SECONDS
    return state == "ended"


def _owner_state(marker: Path) -> str:
    """'live' (a process holds its lock), 'ended' (written by an owner that holds it no more) or 'unmarked'."""
    try:
        with open(marker, "rb") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                return "live"
            return "ended" if os.fstat(handle.fileno()).st_size > 0 else "unmarked"
    except FileNotFoundError:
        return "unmarked"
    except OSError:
        return "live"  # cannot tell: leave it


def _newest_mtime(path: Path) -> float:
    """The latest change time of `path` and, for a folder, of what lies in it and one level further."""
    try:
        newest = path.stat().st_mtime
        if path.is_dir():
            for child in path.iterdir():
                newest = max(newest, child.stat().st_mtime)
                if child.is_dir() and not child.is_symlink():
                    newest = max([newest, *(c.stat().st_mtime for c in child.iterdir())])
    except OSError:
        return time.time()
    return newest
