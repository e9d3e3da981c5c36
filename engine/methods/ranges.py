"""Valid ranges of method parameters, declared on each numeric `Params` field (`knob(..., range=(lo, hi))`, i.e.
`metadata={"range": (lo, hi)}`): `make_params` (so the CLI, the job queue and the Train form) checks every field
against its range before anything is recorded. Bounds are inclusive; string choices are `Literal` annotations."""

from __future__ import annotations

import dataclasses
import math
import typing
from typing import Any

Range = tuple[float, float]


def _is_number(annotation: Any) -> bool:
    return annotation in (int, float) or str(annotation) in ("int", "float")


def field_range(field: dataclasses.Field) -> Range | None:
    """The inclusive range a numeric Params field declares (None for strings and booleans, or when missing)."""
    return field.metadata.get("range")


def numeric_fields(params_cls: type) -> list[dataclasses.Field]:
    hints = typing.get_type_hints(params_cls)
    return [f for f in dataclasses.fields(params_cls) if _is_number(hints.get(f.name))]


def check_ranges(params: Any, method: str) -> None:
    """Raise ValueError naming the field, its value and its range for the first value out of range."""
    hints = typing.get_type_hints(type(params))
    for field in numeric_fields(type(params)):
        value = getattr(params, field.name)
        expected = hints[field.name]
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(
                f"{method}: {field.name}={value!r} is not a number; expected {expected.__name__}"
            )
        if expected is int and not float(value).is_integer():
            raise ValueError(f"{method}: {field.name}={value!r} must be a whole number")
        bounds = field_range(field)
        if bounds is None:
            raise ValueError(
                f"{method}: parameter {field.name!r} has no declared range (a bug: declare one with knob(..., range=(lo, hi)))"
            )
        lo, hi = bounds
        if math.isnan(value) or not lo <= value <= hi:
            raise ValueError(f"{method}: {field.name}={value!r} is out of range; expected {lo:g} to {hi:g}")
