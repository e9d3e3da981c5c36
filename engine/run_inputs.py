"""What a run feeds its method and keeps of its outputs: its inputs, read before its record is opened
(`load_run_inputs`: the checked method and parameters, the dataset, the labeled anomalies it may learn from and
the test images it is scored on), the training images it scores for its normal reference, how many images a
loader reads at once (few, when each is cut into many tiles), and maps of mixed sizes as the arrays of the run's
artifact."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from db.store import Store
from engine.config import DeviceInfo, pick_device
from engine.data import load_dataset
from engine.data.types import ImageSplit, LoadedDataset
from engine.methods.components.tiling import Tiler, Tiling
from engine.methods.params import make_tiling
from engine.runconfig import Progress, RunConfig, preflight, run_image_size

MAX_TRAIN_SCORED = 128  # training images scored after fit (for normalisation and the t-SNE view)


@dataclass(frozen=True)
class RunStart:
    """What is known once the dataset is loaded: enough to open the run's record."""

    dataset: str
    image_size: int
    device: str
    params: dict[
        str, Any
    ]  # the method's parameters, its tiling, and how many labeled anomalies it learns from


@dataclass(frozen=True)
class RunInputs:
    """Everything `engine.compute.compute` works from; it reads no store itself."""

    data: LoadedDataset
    labeled: ImageSplit | None  # labeled anomalies the method learns from, if any
    keep: np.ndarray  # (N_test,) bool: the test images it is scored on (the labeled anomalies left out)
    method_cls: type
    params: Any  # the method's checked Params
    tiling: Tiling
    device: DeviceInfo
    start: RunStart


def load_run_inputs(
    config: RunConfig, store: Store | None = None, progress: Callable[[Progress], None] | None = None
) -> RunInputs:
    """Check `config` (engine.runconfig.preflight), then report the "load" phase and load its dataset (from the
    results store when it is an imported one); raises ValueError naming the bad input. Writes nothing."""
    method_cls, params = preflight(config, store)
    tiling = make_tiling(method_cls, config.preset, dict(config.overrides))
    device = pick_device(config.device)
    if progress is not None:
        progress(Progress("load", 0.0))
    data = load_dataset(config.dataset, image_size=run_image_size(config), seed=config.seed, store=store)
    labeled, keep = split_labeled(data, config)
    start = RunStart(
        dataset=data.name,
        image_size=data.image_size,
        device=device.name,
        params={
            **dataclasses.asdict(params),
            **(tiling.as_params() if tiling.tile else {}),
            "labeled_anomalies": int((~keep).sum()),
        },
    )
    return RunInputs(data, labeled, keep, method_cls, params, tiling, device, start)


def split_labeled(data: LoadedDataset, config: RunConfig) -> tuple[ImageSplit | None, np.ndarray]:
    """Labeled anomalies for fit() and a boolean mask of test images kept for evaluation."""
    names = data.test.names
    keep = np.ones(len(names), dtype=bool)
    chosen: list[int] = []
    if config.labeled_anomalies:
        index = {n: i for i, n in enumerate(names)}
        missing = [n for n in config.labeled_anomalies if n not in index]
        if missing:
            raise ValueError(f"labeled anomalies not in the test split of {data.name!r}: {missing[:5]}")
        chosen = [index[n] for n in config.labeled_anomalies]
        bad = [names[i] for i in chosen if int(data.test.labels[i]) != 1]
        if bad:
            raise ValueError(f"labeled anomalies must be labeled anomalous; these are normal: {bad[:5]}")
    elif config.n_labeled_anomalies > 0:
        anomalous = np.flatnonzero(data.test.labels.numpy() == 1)
        rng = np.random.default_rng(config.seed)
        chosen = sorted(
            rng.choice(anomalous, size=min(config.n_labeled_anomalies, len(anomalous)), replace=False)
        )
    if not chosen:
        return None, keep
    keep[chosen] = False
    return data.test.subset(chosen), keep


def train_sample(data: LoadedDataset, seed: int) -> ImageSplit:
    n = len(data.train)
    if n <= MAX_TRAIN_SCORED:
        return data.train
    return data.train.subset(
        np.sort(np.random.default_rng(seed).choice(n, size=MAX_TRAIN_SCORED, replace=False))
    )


def images_per_batch(batch: int, tiling: Tiling, sizes: list[tuple[int, int]]) -> int:
    """Images a loader reads at once: the method's batch size, or on tiles about a batch of tiles (at least one
    image), so the images in memory stay few however large they are."""
    if not tiling.tile or not sizes:
        return batch
    tiler = Tiler(tiling.tile, tiling.stride)
    return max(1, batch // max(tiler.count(h, w) for h, w in set(sizes)))


def as_arrays(values: Any) -> np.ndarray | list[np.ndarray]:
    """Maps of a Prediction as numpy: one (N, ...) array, or a list of arrays where sizes differ."""
    return values.numpy() if isinstance(values, torch.Tensor) else [v.numpy() for v in values]


def padded(values: np.ndarray | list[np.ndarray] | None, fill: float) -> np.ndarray | None:
    """One (N, ...) array for the run's artifact: maps of mixed sizes padded at the bottom and right to the
    largest with `fill` (NaN for maps, 0 for masks), so every image's own map is its top-left part."""
    if values is None or isinstance(values, np.ndarray):
        return values
    shape = tuple(max(v.shape[k] for v in values) for k in range(values[0].ndim))
    out = np.full((len(values), *shape), fill, dtype=np.float32)
    for i, v in enumerate(values):
        out[(i, *(slice(0, n) for n in v.shape))] = v
    return out
