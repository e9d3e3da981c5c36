"""What the dashboard and the scheduler need to know of a method without importing it, read from the constants of
the method's class in its own file's source: its one line for people choosing one (the Train page's picker,
`description`) and whether it fits without a training loss (`without_loss`). Listing every method with its line
loads none of them (nor their backbones: timm, kornia). Keys and order as in METHODS."""

from __future__ import annotations

import ast
import functools
import importlib.util
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from engine.methods import REGISTERED

ENSEMBLE = "ensemble"  # the method key of runs combined from saved runs (engine/ensemble.py), never trained
ENSEMBLE_DESCRIPTION = (
    "saved runs of one dataset combined: scores normalised per run, fused by a rule (seed 000's idea)"
)


@functools.cache
def class_constants(module: str, name: str) -> dict[str, Any]:
    """The literal values assigned in the body of class `name` of `module` (e.g. `key`, `description`), from its
    source file; the module is not imported."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.origin:
        raise RuntimeError(f"no source file for module {module!r}")
    for node in ast.parse(Path(spec.origin).read_text(encoding="utf-8")).body:
        if isinstance(node, ast.ClassDef) and node.name == name:
            found = {}
            for stmt in node.body:
                if isinstance(stmt, ast.AnnAssign | ast.Assign) and stmt.value is not None:
                    targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
                    names = [t.id for t in targets if isinstance(t, ast.Name)]
                    try:
                        found |= dict.fromkeys(names, ast.literal_eval(stmt.value))
                    except (ValueError, TypeError, SyntaxError):  # not a literal (e.g. `Params = Params`)
                        continue
            return found
    raise RuntimeError(f"{module} defines no class {name}")


class _Descriptions(Mapping[str, str]):
    """key -> the one-line `description` of the method's class."""

    def __getitem__(self, key: str) -> str:
        module, name = REGISTERED[key]  # KeyError for an unknown key, as a dict
        text = class_constants(module, name).get("description")
        if not isinstance(text, str) or not text:
            raise RuntimeError(f"{module}.{name} has no one-line `description` string")
        return text

    def __iter__(self) -> Iterator[str]:
        return iter(REGISTERED)

    def __len__(self) -> int:
        return len(REGISTERED)


DESCRIPTIONS: Mapping[str, str] = _Descriptions()


def fits_without_loss(method: str) -> bool:
    """Whether `method` declares `without_loss` (fitted in one pass over pretrained features, no training loss),
    read from its class's source; False for a key that is no registered method (e.g. `ensemble`)."""
    if method not in REGISTERED:
        return False
    return class_constants(*REGISTERED[method]).get("without_loss") is True


def describe(method: str) -> str:
    """The one-line description of `method`, or a ValueError listing the described keys."""
    try:
        return DESCRIPTIONS[method]
    except KeyError:
        raise ValueError(f"no description of method {method!r}; described: {sorted(DESCRIPTIONS)}") from None
