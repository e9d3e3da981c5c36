"""Dataset names: letters, digits, '_', '.' and '-', starting with a letter or digit, so that a dataset folder
never takes the name of the data directory's own dot-folders (`.workers`, `.exports`, `.import-*`, ...)."""

from __future__ import annotations

import re

from engine.data.builtin import BUILTIN_NAMES, is_builtin
from engine.data.types import DatasetError

NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}")


def check_dataset_name(name: str) -> str:
    """`name` when it is a valid name for a new dataset (not checked against the store); raises DatasetError."""
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        raise DatasetError(
            f"bad dataset name {name!r}: use 1-64 letters, digits, '_', '.' or '-', and start with a letter "
            "or digit"
        )
    if is_builtin(name) or name.lower() in BUILTIN_NAMES:
        raise DatasetError(
            f"dataset name {name!r} is taken by a built-in set {list(BUILTIN_NAMES)}; pick another"
        )
    return name
