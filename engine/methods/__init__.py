"""Registry of detection methods: one hand-written key per method, used everywhere (CLI, MLflow, store, UI).

A method is one file: its class (with `key` and a one-line `description`), its `Params` (fields declared with
`knob`: help and range; choices as `Literal[...]`) and its presets; it is added by one line in REGISTERED below.
The Train form, the range and choice checks and the method picker read all of it from that file.

The table names where each class lives instead of importing it (no decorator on the class, which would need the
import): listing the keys imports no method, `METHODS[key]` imports that method's module on first use, and the
descriptions are read from the files' source (engine.methods.catalog), so a process that only lists methods or
fills one form (the dashboard) does not load all eleven with their backbones (timm, kornia)."""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the classes are imported on first lookup, so listing keys imports no torch
    from engine.methods.base import BaseMethod

REGISTERED: dict[str, tuple[str, str]] = {  # key -> (module, class), in display order
    "autoencoder": ("engine.methods.autoencoder", "Autoencoder"),
    "vae": ("engine.methods.vae", "Vae"),
    "vae_fusion": ("engine.methods.vae_fusion", "VaeFusion"),
    "vae_projection": ("engine.methods.vae_projection", "VaeProjection"),
    "anogan": ("engine.methods.anogan", "AnoGan"),
    "vaegan": ("engine.methods.vaegan", "VaeGan"),
    "deep_svdd": ("engine.methods.deep_svdd", "DeepSvdd"),
    "padim": ("engine.methods.padim", "Padim"),
    "patchcore": ("engine.methods.patchcore", "Patchcore"),
    "cutpaste": ("engine.methods.cutpaste", "CutPaste"),
    "simclr_local": ("engine.methods.simclr_local", "SimclrLocal"),
}


class _Methods(Mapping[str, "type[BaseMethod]"]):
    """key -> method class, each class imported the first time it is looked up."""

    def __getitem__(self, key: str) -> type[BaseMethod]:
        module, name = REGISTERED[key]  # KeyError for an unknown key, as a dict
        cls = getattr(importlib.import_module(module), name)
        if cls.key != key:
            raise RuntimeError(f"{module}.{name} has key {cls.key!r}, registered as {key!r}")
        return cls

    def __iter__(self) -> Iterator[str]:
        return iter(REGISTERED)

    def __len__(self) -> int:
        return len(REGISTERED)

    def __contains__(self, key: object) -> bool:
        return key in REGISTERED


METHODS: Mapping[str, type[BaseMethod]] = _Methods()


def get_method(key: str) -> type[BaseMethod]:
    """The method class for `key`, or a ValueError listing the valid keys."""
    try:
        return METHODS[key]
    except KeyError:
        raise ValueError(f"unknown method {key!r}; choose from {sorted(METHODS)}") from None
