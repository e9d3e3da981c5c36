"""One run: load a dataset, fit a method, predict the test split, compute metrics, record in both stores."""

from __future__ import annotations

import dataclasses
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from engine import metrics as M
from engine.config import DEVICES, pick_device
from engine.data import BUILTIN_DEFAULT_SIZE, DEFAULT_IMAGE_SIZE, LoadedDataset, load_dataset, make_loader
from engine.methods import EpochLog, Prediction, get_method, make_params
from engine.methods.base import PRESETS
from engine.resources import (
    IMAGE_SIZE_RANGE,
    LABELED_ANOMALIES_RANGE,
    SEED_RANGE,
    MemoryNeed,
    check_in_range,
    check_memory,
    dataset_size,
)
from engine.tracking import MAX_TRAIN_EMBEDDINGS, PeakMemory, RunArrays, RunTracker

MAX_TRAIN_SCORED = 128  # training images scored after fit (for normalisation and the t-SNE view)
MIN_BATCHES_PER_EPOCH = 8  # `cpu` preset: an epoch over a tiny training set passes over it several times


class RunCancelled(Exception):
    """Raised inside a run when its job was cancelled."""


@dataclass(frozen=True)
class RunConfig:
    dataset: str
    method: str
    preset: str = "cpu"
    overrides: tuple[tuple[str, str], ...] = ()  # --set key=value pairs
    image_size: int | None = None  # None: the dataset's default (128 for folders)
    seed: int = 0
    device: str = "auto"
    labeled_anomalies: tuple[str, ...] = ()  # test image names fit() may learn from; left out of evaluation
    n_labeled_anomalies: int = 0  # else: this many test anomalies drawn at random (seeded)

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


def preflight(config: RunConfig, db_url: str | None = None) -> tuple[type, Any]:
    """The method class and its checked Params, after checking that the run fits this machine's memory;
    raises ValueError (naming the field, its value and the valid range) before anything is recorded."""
    method_cls = get_method(config.method)
    params = make_params(method_cls, config.preset, dict(config.overrides))
    size = dataset_size(config.dataset, db_url)
    if size is not None:
        images, channels = size
        default = BUILTIN_DEFAULT_SIZE.get(config.dataset.partition(":")[0], DEFAULT_IMAGE_SIZE)
        check_memory(MemoryNeed(images, channels, config.image_size or default, _batch_size(params)))
    return method_cls, params


@dataclass(frozen=True)
class Progress:
    phase: str  # "load" | "fit" | "predict" | "save" | "done"
    fraction: float  # 0..1 of the whole run
    epoch: int | None = None
    epochs: int | None = None
    losses: dict[str, float] = field(default_factory=dict)
    run_id: int | None = None  # results-store id, known from the "fit" phase on


@dataclass
class RunResult:
    run_id: int
    mlflow_run_id: str
    method: str
    dataset: str
    metrics: dict[str, Any]
    fit_seconds: float
    predict_seconds: float
    images_per_second: float
    peak_memory_mb: float
    device: str
    notes: list[str]

    def summary(self) -> dict[str, Any]:
        """The JSON line printed by `train --json`."""
        return {
            "run_id": self.run_id,
            "mlflow_run_id": self.mlflow_run_id,
            "method": self.method,
            "dataset": self.dataset,
            "image_auroc": self.metrics.get("image_auroc"),
            "pixel_auroc": self.metrics.get("pixel_auroc"),
            "pro": self.metrics.get("pro"),
            "average_precision": self.metrics.get("average_precision"),
            "fit_seconds": round(self.fit_seconds, 3),
            "predict_seconds": round(self.predict_seconds, 3),
            "images_per_second": round(self.images_per_second, 2),
            "peak_memory_mb": round(self.peak_memory_mb, 1),
            "device": self.device,
            "notes": self.notes,
        }


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def split_labeled(data: LoadedDataset, config: RunConfig) -> tuple[torch.Tensor | None, np.ndarray]:
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
    return data.test.images[chosen], keep


def _batch_size(params: Any) -> int:
    return int(getattr(params, "batch_size", 32))


def epoch_repeats(params: Any, preset: str, n_train: int) -> int:
    """Passes over the training set per epoch: 1, except at the `cpu` preset for methods trained in epochs,
    where a set too small for MIN_BATCHES_PER_EPOCH batches is repeated (32 images would give a few dozen
    gradient steps in all, too few for Deep SVDD or the GANs to learn anything)."""
    if preset != "cpu" or not hasattr(params, "epochs"):
        return 1
    batches = -(-n_train // max(1, min(_batch_size(params), n_train)))  # ceil
    return max(1, MIN_BATCHES_PER_EPOCH // batches)  # whole passes only: 7 batches stay 1 pass


def _train_sample(data: LoadedDataset, seed: int) -> torch.Tensor:
    n = len(data.train)
    if n <= MAX_TRAIN_SCORED:
        return data.train.images
    idx = np.sort(np.random.default_rng(seed).choice(n, size=MAX_TRAIN_SCORED, replace=False))
    return data.train.images[idx]


def evaluate(
    pred: Prediction,
    labels: np.ndarray,
    defect_types: list[str],
    masks: np.ndarray | None,
    train_scores: np.ndarray,
) -> dict[str, Any]:
    """Image and pixel metrics of one run's test predictions."""
    scores = pred.score.numpy()
    image = M.image_metrics(labels, scores, train_scores)
    result: dict[str, Any] = image.as_dict()
    result["auroc_per_defect_type"] = M.auroc_per_defect_type(labels, scores, defect_types)
    result["pixel_auroc"] = None
    result["pro"] = None
    if masks is not None:
        maps = pred.anomaly_map.numpy()
        result["pixel_auroc"] = M.pixel_auroc(masks, maps)
        result["pro"] = M.pro_score(masks, maps)
    if image.image_auroc is not None:
        roc = M.roc_points(labels, scores)
        result["roc"] = {
            "fpr": roc.fpr.tolist(),
            "tpr": roc.tpr.tolist(),
            "thresholds": roc.thresholds.tolist(),
        }
    return result


def train_and_evaluate(
    config: RunConfig,
    progress: Callable[[Progress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    db_url: str | None = None,
    mlflow_uri: str | None = None,
) -> RunResult:
    """Fit `config.method` on `config.dataset`, evaluate on its test split and record the run."""
    report = progress or (lambda p: None)
    method_cls, params = preflight(config, db_url)
    device = pick_device(config.device)
    report(Progress("load", 0.0))
    data = load_dataset(config.dataset, image_size=config.image_size, seed=config.seed, db_url=db_url)
    labeled, keep = split_labeled(data, config)
    seed_everything(config.seed)

    tracker = RunTracker(
        dataset=data.name,
        method=config.method,
        preset=config.preset,
        params={**dataclasses.asdict(params), "labeled_anomalies": int((~keep).sum())},
        seed=config.seed,
        image_size=data.image_size,
        device=device.name,
        db_url=db_url,
        mlflow_uri=mlflow_uri,
    )
    with tracker, PeakMemory() as memory:
        method = method_cls(params, (data.channels, data.image_size, data.image_size), device, config.seed)
        notes = [f"labeled anomalies used for training: {int((~keep).sum())}"] if labeled is not None else []

        def on_epoch(log: EpochLog) -> None:
            tracker.log_epoch(log.epoch, log.losses)
            report(
                Progress(
                    "fit", 0.05 + 0.8 * log.epoch / max(log.epochs, 1), log.epoch, log.epochs, log.losses
                )
            )
            if should_stop is not None and should_stop():
                raise RunCancelled("cancelled by the user")

        batch = _batch_size(params)
        repeats = epoch_repeats(params, config.preset, len(data.train))
        if repeats > 1:
            notes.append(f"each epoch passes {repeats} times over the {len(data.train)} training images")
        train_loader = make_loader(data.train.images, batch, shuffle=True, seed=config.seed, repeats=repeats)
        labeled_loader = make_loader(labeled, batch) if labeled is not None else None
        report(Progress("fit", 0.05, run_id=tracker.run_id))
        start = time.perf_counter()
        method.fit(train_loader, labeled_loader, on_epoch)
        fit_seconds = time.perf_counter() - start

        report(Progress("predict", 0.86, run_id=tracker.run_id))
        test_images = data.test.images[torch.from_numpy(keep)]
        start = time.perf_counter()
        pred = method.predict_loader(make_loader(test_images, batch)).check(test_images)
        predict_seconds = time.perf_counter() - start
        train_pred = method.predict_loader(make_loader(_train_sample(data, config.seed), batch))
        if should_stop is not None and should_stop():
            raise RunCancelled("cancelled by the user")

        report(Progress("save", 0.95, run_id=tracker.run_id))
        labels = data.test.labels.numpy()[keep]
        defect_types = [d for d, k in zip(data.test.defect_types, keep, strict=True) if k]
        names = [n for n, k in zip(data.test.names, keep, strict=True) if k]
        masks = data.test.masks.numpy()[keep] if data.test.masks is not None else None
        train_scores = train_pred.score.numpy()
        result_metrics = evaluate(pred, labels, defect_types, masks, train_scores)
        centroid = method.centroid if method.centroid is not None else train_pred.embedding.mean(0)
        arrays = RunArrays(
            names=names,
            labels=labels,
            defect_types=defect_types,
            scores=pred.score.numpy(),
            scores_normalized=M.normalize_scores(pred.score.numpy(), train_scores),
            embeddings=pred.embedding.numpy(),
            centroid=centroid.detach().float().cpu().numpy(),
            train_embeddings=train_pred.embedding.numpy()[:MAX_TRAIN_EMBEDDINGS],
            train_scores=train_scores,
            anomaly_maps=pred.anomaly_map.numpy(),
            reconstructions=None if pred.reconstruction is None else pred.reconstruction.numpy(),
            attentions=None if pred.attention is None else pred.attention.numpy(),
            masks=masks,
        )
        notes += method.notes
        timings = {
            "fit_seconds": fit_seconds,
            "predict_seconds": predict_seconds,
            "images_per_second": len(test_images) / max(predict_seconds, 1e-9),
        }
        timings["peak_memory_mb"] = memory.stop()  # before writing artifacts
        tracker.finish(
            metrics=result_metrics, arrays=arrays, weights=method.state_dict(), notes=notes, timings=timings
        )
    report(Progress("done", 1.0, run_id=tracker.run_id))
    return RunResult(
        run_id=tracker.run_id,
        mlflow_run_id=tracker.mlflow_run_id,
        method=config.method,
        dataset=data.name,
        metrics=result_metrics,
        fit_seconds=fit_seconds,
        predict_seconds=predict_seconds,
        images_per_second=timings["images_per_second"],
        peak_memory_mb=memory.peak_mb,
        device=device.name,
        notes=notes,
    )
