"""A method's parameters: `knob` declares a `Params` field with its help and range (read by the Train form and
the checks); `make_params` builds the method's checked `Params` from a preset and `--set` overrides, `make_tiling`
the run's tiling options (accepted for every method); the presets every method answers to.

A string field's choices are its `Literal[...]` annotation, checked by `check_choices`."""

from __future__ import annotations

import dataclasses
import typing
from typing import Any

from engine.methods.components.tiling import TILE_KEYS, Tiling
from engine.methods.components.weights import checked_weights_value
from engine.methods.ranges import Range, check_ranges

PRESETS = ("smoke", "cpu", "paper", "native")
# `native`: images at their own size, every method on tiles. A method without its own native preset gets its cpu
# preset on tiles of NATIVE_TILE px, the square its network is built for by default (the folders' image size).
NATIVE_TILE = 128


def knob(default: Any, help: str = "", range: Range | None = None) -> Any:
    """A `Params` field: its default, one line of help for the Train form and, for a number, its inclusive
    range, which `make_params` checks (so the CLI, the job queue and the form refuse a value outside it)."""
    metadata: dict[str, Any] = {"help": help}
    if range is not None:
        metadata["range"] = range
    return dataclasses.field(default=default, metadata=metadata)


def field_help(field: dataclasses.Field) -> str:
    """The help a field's `knob` declares ("" when none)."""
    return field.metadata.get("help", "")


def literal_choices(annotation: Any) -> tuple[str, ...]:
    """The values of a `Literal[...]` annotation (as strings); () for any other type."""
    if typing.get_origin(annotation) is not typing.Literal:
        return ()
    return tuple(str(a) for a in typing.get_args(annotation))


def check_choices(params: Any, method: str) -> None:
    """Raise ValueError naming the field, its value and the choices for the first value its `Literal` lacks."""
    hints = typing.get_type_hints(type(params))
    for field in dataclasses.fields(params):
        choices = literal_choices(hints.get(field.name))
        value = getattr(params, field.name)
        if choices and str(value) not in choices:
            raise ValueError(f"unknown {field.name} {value!r} for {method}; choose from {list(choices)}")


def params_fields(params_cls: type) -> dict[str, dataclasses.Field]:
    return {f.name: f for f in dataclasses.fields(params_cls)}


def _coerce(name: str, raw: Any, annotation: Any) -> Any:
    """Turn a `--set` string (or a preset value) into the field's declared type."""
    if not isinstance(raw, str):
        return raw
    kind = annotation if isinstance(annotation, type) else None
    text = str(annotation)
    try:
        if kind is bool or text == "bool":
            low = raw.strip().lower()
            if low in ("1", "true", "yes", "on"):
                return True
            if low in ("0", "false", "no", "off"):
                return False
            raise ValueError("expected true/false")
        if kind is int or text == "int":
            return int(raw)
        if kind is float or text == "float":
            return float(raw)
    except ValueError as exc:
        raise ValueError(f"bad value for {name!r}: {raw!r} ({exc}); expected {text}") from None
    return raw


def preset_values(method_cls: type, preset: str) -> dict[str, Any]:
    """The values `preset` sets for `method_cls` (method parameters and tiling options); `native` falls back to
    the cpu preset on NATIVE_TILE px tiles for a method without its own."""
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose from {list(PRESETS)}")
    presets = getattr(method_cls, "presets", {})
    if preset == "native" and "native" not in presets:
        return {**presets.get("cpu", {}), "tile": NATIVE_TILE}
    return dict(presets.get(preset, {}))


def make_params(method_cls: type, preset: str = "cpu", overrides: dict[str, Any] | None = None) -> Any:
    """Params of `method_cls` at `preset`, with `overrides` (strings are parsed to the field type). The tiling
    options (TILE_KEYS) are accepted for every method and checked here, but belong to `make_tiling`."""
    make_tiling(method_cls, preset, overrides)
    params_cls = method_cls.Params
    fields = params_fields(params_cls)
    hints = typing.get_type_hints(params_cls)
    values = {k: v for k, v in preset_values(method_cls, preset).items() if k not in TILE_KEYS}
    for name, raw in (overrides or {}).items():
        if name in TILE_KEYS:
            continue
        if name not in fields:
            raise ValueError(
                f"unknown parameter {name!r} for method {method_cls.key!r}; choose from "
                f"{sorted([*fields, *TILE_KEYS])}"
            )
        values[name] = _coerce(name, raw, hints.get(name))
    try:
        params = params_cls(**values)
    except TypeError as exc:  # e.g. a preset names a field the class lacks
        raise ValueError(f"bad parameters for {method_cls.key!r}: {exc}") from None
    check_choices(params, method_cls.key)
    check_ranges(params, method_cls.key)
    if isinstance(getattr(params, "weights", None), str):  # a backbone's weights: a word or a managed file
        params = dataclasses.replace(params, weights=checked_weights_value(params.weights, method_cls.key))
    validate = getattr(params, "validate", None)
    if callable(validate):
        validate()
    return params


def make_tiling(method_cls: type, preset: str = "cpu", overrides: dict[str, Any] | None = None) -> Tiling:
    """The tiling options of a run of `method_cls` at `preset` with `overrides` (`tile`, `tile_stride`), checked
    against their ranges; the `native` preset keeps images at their own size, so it needs tiles."""
    values = {k: v for k, v in preset_values(method_cls, preset).items() if k in TILE_KEYS}
    for name in TILE_KEYS:
        if name in (overrides or {}):
            values[name] = _coerce(name, overrides[name], int)
    try:
        tiling = Tiling(**values)
    except ValueError as exc:
        raise ValueError(f"{method_cls.key}: {exc}") from None
    if preset == "native" and not tiling.tile:
        raise ValueError(
            f"{method_cls.key}: tile=0 at the native preset, which keeps every image at its own size, so a method "
            "needs tiles; set tile (e.g. 224) or choose another preset"
        )
    return tiling
