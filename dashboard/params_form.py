"""A form made from a method's `Params` dataclass: field specs (type, preset default, and what each field
declares: `Literal` choices, `knob` help and range) and the widgets; only values that differ from the preset
become overrides."""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass
from typing import Any

import streamlit as st

from engine.methods.params import field_help, literal_choices, make_params
from engine.methods.ranges import field_range

KINDS = {bool: "bool", int: "int", float: "float", str: "str"}


@dataclass(frozen=True)
class ParamSpec:
    name: str
    kind: str  # "int" | "float" | "bool" | "str" | "choice"
    default: Any  # at the chosen preset
    choices: tuple[str, ...] = ()
    help: str | None = None
    bounds: tuple[float, float] | None = None  # inclusive range of a number (its `knob`'s range)


def param_specs(method_cls: type, preset: str) -> list[ParamSpec]:
    """One spec per field of `method_cls.Params`, with the preset's values as defaults."""
    params = make_params(method_cls, preset)
    hints = typing.get_type_hints(method_cls.Params)
    specs = []
    for field in dataclasses.fields(method_cls.Params):
        annotation = hints.get(field.name)
        choices = literal_choices(annotation)
        kind = "choice" if choices else KINDS.get(annotation, "str")
        bounds = field_range(field) if kind in ("int", "float") else None
        default = getattr(params, field.name)
        specs.append(ParamSpec(field.name, kind, default, choices, field_help(field) or None, bounds))
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
