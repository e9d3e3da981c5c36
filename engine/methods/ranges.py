"""Valid ranges of method parameters, published as data: `make_params` (so the CLI, the job queue and the
Train form) checks every field against them before anything is recorded.

A field's own `metadata={"range": (lo, hi)}` wins; otherwise its name is looked up here, because the same
name means the same thing in every method. Bounds are inclusive; string choices are `Literal` annotations
or the method's own check."""

from __future__ import annotations

import dataclasses
import math
import typing
from typing import Any

Range = tuple[float, float]

PARAM_RANGES: dict[str, Range] = {
    # training
    "epochs": (1, 10_000),
    "pretrain_epochs": (0, 10_000),
    "batch_size": (1, 1024),
    "lr": (1e-8, 10.0),
    "search_lr": (1e-8, 100.0),
    "weight_decay": (0.0, 1.0),
    "momentum": (0.0, 0.9999),
    "beta1": (0.0, 0.9999),
    # network sizes
    "latent_dim": (1, 4096),
    "width": (1, 256),
    "rep_dim": (1, 4096),
    "head_dim": (1, 4096),
    "proj_dim": (1, 4096),
    "projection_dim": (0, 4096),  # 0 = no projection
    "d": (0, 8192),  # 0 = the paper's channel count
    # loss weights
    "beta": (0.0, 1000.0),
    "lam": (0.0, 1000.0),
    "eta": (0.0, 1000.0),
    "center_weight": (0.0, 1000.0),
    "feature_weight": (0.0, 1000.0),
    "pixel_weight": (0.0, 1000.0),
    "prior_weight": (0.0, 1000.0),
    "center_alpha": (0.0, 1.0),
    "center_eps": (0.0, 10.0),
    "temperature": (1e-3, 100.0),
    "ridge": (1e-8, 100.0),
    # scoring and search
    "search_steps": (0, 100_000),
    "steps": (0, 10_000),
    "step_size": (0.0, 100.0),
    "topk": (1e-4, 1.0),
    "quantile": (0.0, 1.0),
    "neighbours": (1, 1000),
    "coreset_ratio": (1e-4, 1.0),
    "max_bank": (1, 10_000_000),
    "centroid_images": (1, 100_000),
    "blur_sigma": (0.0, 64.0),
    "saliency_sigma": (0.0, 64.0),
    "ssim_window": (3, 63),
    "ssim_threshold": (0.0, 1.0),
    # augmentations
    "jitter": (0.0, 1.0),
    "color_change": (0.0, 1.0),
    "max_angle": (0.0, 180.0),
    "max_shift": (0.0, 0.5),
    "patch_area_min": (1e-4, 1.0),
    "patch_area_max": (1e-4, 1.0),
    "max_attempts": (1, 1000),
}


def _is_number(annotation: Any) -> bool:
    return annotation in (int, float) or str(annotation) in ("int", "float")


def field_range(field: dataclasses.Field) -> Range | None:
    """The inclusive range of a numeric Params field (None for strings and booleans)."""
    return field.metadata.get("range") or PARAM_RANGES.get(field.name)


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
            raise ValueError(f"{method}: parameter {field.name!r} has no declared range (a bug: add one)")
        lo, hi = bounds
        if math.isnan(value) or not lo <= value <= hi:
            raise ValueError(f"{method}: {field.name}={value!r} is out of range; expected {lo:g} to {hi:g}")
