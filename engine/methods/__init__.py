"""Registry of detection methods: one hand-written key per method, used everywhere (CLI, MLflow, store, UI)."""

from __future__ import annotations

from engine.methods.base import BaseMethod, EpochLog, Prediction, make_params

METHODS: dict[str, type[BaseMethod]] = {}


def get_method(key: str) -> type[BaseMethod]:
    """The method class for `key`, or a ValueError listing the valid keys."""
    try:
        return METHODS[key]
    except KeyError:
        raise ValueError(f"unknown method {key!r}; choose from {sorted(METHODS)}") from None


__all__ = ["METHODS", "BaseMethod", "EpochLog", "Prediction", "get_method", "make_params"]
