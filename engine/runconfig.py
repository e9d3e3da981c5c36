"""What a run is asked to do (`RunConfig`), how it reports progress, and the checks made before it starts."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from db.models import check_user_name
from db.store import Store
from engine.config import DEVICES
from engine.data.types import NATIVE
from engine.methods import get_method
from engine.methods.params import PRESETS, make_params, make_tiling
from engine.resources import (
    IMAGE_SIZE_RANGE,
    LABELED_ANOMALIES_RANGE,
    SEED_RANGE,
    check_in_range,
    check_memory,
    dataset_size,
    memory_need,
)


class RunCancelled(Exception):
    """Raised inside a run when its job was cancelled."""


@dataclass(frozen=True)
class RunConfig:
    dataset: str
    method: str
    preset: str = "cpu"
    overrides: tuple[tuple[str, str], ...] = ()  # --set key=value pairs
    image_size: int | None = None  # None: the dataset's default (128 for folders); own size at preset native
    seed: int = 0
    device: str = "auto"
    labeled_anomalies: tuple[str, ...] = ()  # test image names fit() may learn from; left out of evaluation
    n_labeled_anomalies: int = 0  # else: this many test anomalies drawn at random (seeded)
    user: str = ""  # who asked for it (the dashboard's name field), recorded with the run

    def __post_init__(self) -> None:
        if self.preset not in PRESETS:
            raise ValueError(f"unknown preset {self.preset!r}; choose from {list(PRESETS)}")
        if self.device not in DEVICES:
            raise ValueError(f"unknown device {self.device!r}; choose from {list(DEVICES)}")
        check_in_range(
            "image_size", self.image_size, IMAGE_SIZE_RANGE, " px (or none for the dataset's default)"
        )
        check_in_range("seed", self.seed, SEED_RANGE)
        check_in_range("labeled_anomalies", self.n_labeled_anomalies, LABELED_ANOMALIES_RANGE)
        check_user_name(self.user, "user")


def preflight(config: RunConfig, store: Store | None = None, memory_here: bool = True) -> tuple[type, Any]:
    """The method class and its checked Params, after checking that the run fits this machine's memory (unless
    `memory_here` is False: the job runs elsewhere, which checks its own); raises ValueError (naming the field,
    its value and the valid range) before anything is recorded."""
    method_cls = get_method(config.method)
    params = make_params(method_cls, config.preset, dict(config.overrides))
    size = dataset_size(config.dataset, store)
    if size is None:
        return method_cls, params
    if size.labeled_test == 0:
        raise ValueError(
            f"dataset {config.dataset!r} has no labeled test images yet, so a run would have nothing to be "
            "scored on: label some test images normal or anomalous on the Label page (or import a category "
            "with a test/ folder), then train"
        )
    if not memory_here:
        return method_cls, params
    tiling = make_tiling(method_cls, config.preset, dict(config.overrides))
    need = memory_need(size, config.dataset, run_image_size(config), batch_size(params), tile=tiling.tile)
    model = method_cls.memory_bytes(params, size.channels, tiling.tile or need.image_size)
    check_memory(dataclasses.replace(need, model_bytes=model))
    return method_cls, params


def run_image_size(config: RunConfig) -> int | None:
    """The square size a run loads its images at: the one asked for; else NATIVE (each image at its own size)
    at the native preset; else None, the dataset's default."""
    if config.image_size is not None:
        return config.image_size
    return NATIVE if config.preset == "native" else None


@dataclass(frozen=True)
class Progress:
    phase: str  # "load" | "fit" | "predict" | "save" | "done"
    fraction: float  # 0..1 of the whole run
    epoch: int | None = None
    epochs: int | None = None
    losses: dict[str, float] = field(default_factory=dict)
    run_id: int | None = None  # results-store id, known from the "fit" phase on
    images: tuple[int, int] | None = None  # (done, total) training images of the pass under way in "fit"


@dataclass(frozen=True)
class RunEvents:
    """What a computation tells its caller as it goes, and how the caller stops it."""

    progress: Callable[[Progress], None] = lambda p: None
    should_stop: Callable[[], bool] = lambda: False  # True ends the run with RunCancelled at the next check
    on_epoch: Callable[[int, dict[str, float]], None] = lambda epoch, losses: None  # after every epoch


def batch_size(params: Any) -> int:
    return int(getattr(params, "batch_size", 32))
