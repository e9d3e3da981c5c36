"""A form made from a method's `Params` dataclass: field specs (type, preset default, choices, help from the
source comment) and the widgets; only values that differ from the preset become overrides."""

from __future__ import annotations

import ast
import dataclasses
import inspect
import re
import typing
from dataclasses import dataclass
from typing import Any

import streamlit as st

from engine.methods import make_params
from engine.methods.ranges import field_range

CHOICES_PATTERN = re.compile(r"choose from (\[[^\]]*\])")


@dataclass(frozen=True)
class ParamSpec:
    name: str
    kind: str  # "int" | "float" | "bool" | "str" | "choice"
    default: Any  # at the chosen preset
    choices: tuple[str, ...] = ()
    help: str | None = None
    bounds: tuple[float, float] | None = None  # inclusive range of a number (engine.methods.ranges)


def _comments(params_cls: type) -> dict[str, str]:
    """Trailing `# ...` comments of the dataclass fields, by field name."""
    try:
        source = inspect.getsource(params_cls)
    except (OSError, TypeError):
        return {}
    found = {}
    for line in source.splitlines():
        match = re.match(r"\s+(\w+)\s*:[^=#]+=[^#]*#\s*(.+)$", line)
        if match:
            found[match.group(1)] = match.group(2).strip()
    return found


def _choices(params_cls: type, values: dict[str, Any], name: str, annotation: Any) -> tuple[str, ...]:
    """Allowed strings of a field: from a Literal annotation, else from the 'choose from [...]' of its check."""
    if typing.get_origin(annotation) is typing.Literal:
        return tuple(str(a) for a in typing.get_args(annotation))
    try:
        probe = params_cls(**{**values, name: "not-a-choice"})
        validate = getattr(probe, "validate", None)
        if callable(validate):
            validate()
    except (ValueError, TypeError) as exc:
        text = str(exc)
        match = CHOICES_PATTERN.search(text)
        if match and "not-a-choice" in text:
            try:
                return tuple(str(c) for c in ast.literal_eval(match.group(1)))
            except (ValueError, SyntaxError):
                return ()
    return ()


def param_specs(method_cls: type, preset: str) -> list[ParamSpec]:
    """One spec per field of `method_cls.Params`, with the preset's values as defaults."""
    params = make_params(method_cls, preset)
    values = dataclasses.asdict(params)
    hints = typing.get_type_hints(method_cls.Params)
    comments = _comments(method_cls.Params)
    specs = []
    for field in dataclasses.fields(method_cls.Params):
        annotation, value = hints.get(field.name), values[field.name]
        kind = {bool: "bool", int: "int", float: "float", str: "str"}.get(annotation, "str")
        choices: tuple[str, ...] = ()
        if kind == "str" or typing.get_origin(annotation) is typing.Literal:
            choices = _choices(method_cls.Params, values, field.name, annotation)
            if (
                str(value) not in choices
            ):  # e.g. a comma-separated list checked item by item: typed, not picked
                choices = ()
            kind = "choice" if choices else "str"
        bounds = field_range(field) if kind in ("int", "float") else None
        specs.append(ParamSpec(field.name, kind, value, choices, comments.get(field.name), bounds))
    return specs


def overrides(method_cls: type, preset: str, values: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    """`(name, value)` pairs for the values that differ from the preset; raises ValueError when invalid."""
    defaults = dataclasses.asdict(make_params(method_cls, preset))
    changed = {k: v for k, v in values.items() if k in defaults and str(v) != str(defaults[k])}
    pairs = tuple((k, str(v)) for k, v in sorted(changed.items()))
    make_params(method_cls, preset, dict(pairs))  # validates types and the method's own checks
    return pairs


def render(method_cls: type, preset: str, key: str) -> dict[str, Any]:
    """The widgets of one method's parameters (call inside a form); returns the values entered."""
    out = {}
    columns = st.columns(3)
    for i, spec in enumerate(param_specs(method_cls, preset)):
        where = columns[i % 3]
        wkey = f"{key}-{preset}-{spec.name}"
        if spec.kind == "bool":
            out[spec.name] = where.checkbox(spec.name, value=bool(spec.default), help=spec.help, key=wkey)
        elif spec.kind == "int":
            lo, hi = (int(b) for b in spec.bounds) if spec.bounds else (None, None)
            out[spec.name] = int(
                where.number_input(
                    spec.name, lo, hi, value=int(spec.default), step=1, help=spec.help, key=wkey
                )
            )
        elif spec.kind == "float":
            lo, hi = (float(b) for b in spec.bounds) if spec.bounds else (None, None)
            step = abs(float(spec.default)) / 10 or 0.1
            out[spec.name] = float(
                where.number_input(
                    spec.name,
                    lo,
                    hi,
                    value=float(spec.default),
                    step=step,
                    format="%g",
                    help=spec.help,
                    key=wkey,
                )
            )
        elif spec.kind == "choice":
            index = spec.choices.index(str(spec.default)) if str(spec.default) in spec.choices else 0
            out[spec.name] = where.selectbox(spec.name, spec.choices, index=index, help=spec.help, key=wkey)
        else:
            out[spec.name] = where.text_input(spec.name, value=str(spec.default), help=spec.help, key=wkey)
    return out


def parse_seeds(text: str) -> tuple[list[int], str | None]:
    """Seeds from "0" or "0, 1, 2" (each a whole number from 0 to 2**31 - 1); else ([], the reason)."""
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if not parts:
        return [], "Seeds: give at least one whole number, e.g. 0 or 0, 1, 2."
    try:
        seeds = [int(p) for p in parts]
    except ValueError:
        return [], f"Seeds: {text.strip()!r} is not a list of whole numbers, e.g. 0, 1, 2."
    if any(not 0 <= s < 2**31 for s in seeds):
        return [], "Seeds: each must be from 0 to 2147483647."
    return list(dict.fromkeys(seeds)), None
