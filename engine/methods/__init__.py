"""Registry of detection methods: one hand-written key per method, used everywhere (CLI, MLflow, store, UI).

The registry is lazy: listing the keys imports no method, and `METHODS[key]` imports that method's module
on first use, so a process that only lists methods or fills one form (the dashboard) does not load all
eleven with their backbones (timm, kornia)."""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping

from engine.methods.base import BaseMethod, EpochLog, Prediction, make_params

_WHERE: dict[str, tuple[str, str]] = {  # key -> (module under engine.methods, class), in display order
    "autoencoder": ("autoencoder", "Autoencoder"),
    "vae": ("vae", "Vae"),
    "vae_fusion": ("vae_fusion", "VaeFusion"),
    "vae_projection": ("vae_projection", "VaeProjection"),
    "anogan": ("anogan", "AnoGan"),
    "vaegan": ("vaegan", "VaeGan"),
    "deep_svdd": ("deep_svdd", "DeepSvdd"),
    "padim": ("padim", "Padim"),
    "patchcore": ("patchcore", "Patchcore"),
    "cutpaste": ("cutpaste", "CutPaste"),
    "simclr_local": ("simclr_local", "SimclrLocal"),
}


class _Methods(Mapping[str, type[BaseMethod]]):
    """key -> method class, each class imported the first time it is looked up."""

    def __getitem__(self, key: str) -> type[BaseMethod]:
        module, name = _WHERE[key]  # KeyError for an unknown key, as a dict
        cls = getattr(importlib.import_module(f"engine.methods.{module}"), name)
        if cls.key != key:
            raise RuntimeError(f"engine.methods.{module}.{name} has key {cls.key!r}, registered as {key!r}")
        return cls

    def __iter__(self) -> Iterator[str]:
        return iter(_WHERE)

    def __len__(self) -> int:
        return len(_WHERE)

    def __contains__(self, key: object) -> bool:
        return key in _WHERE


METHODS: Mapping[str, type[BaseMethod]] = _Methods()


def get_method(key: str) -> type[BaseMethod]:
    """The method class for `key`, or a ValueError listing the valid keys."""
    try:
        return METHODS[key]
    except KeyError:
        raise ValueError(f"unknown method {key!r}; choose from {sorted(METHODS)}") from None


__all__ = ["METHODS", "BaseMethod", "EpochLog", "Prediction", "get_method", "make_params"]
