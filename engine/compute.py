"""The pure part of a run: load the dataset, fit the method, predict the test split, evaluate.

`compute(config) -> RunOutcome` writes to neither store (it only reads the dataset), so a benchmark, a test
or a remote task can call it and hand the outcome to `engine.run.record`."""

from __future__ import annotations

import dataclasses
import hashlib
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from engine import metrics as M
from engine.config import pick_device
from engine.data import LoadedDataset, load_dataset, make_loader
from engine.methods import EpochLog, Prediction
from engine.model_file import model_file
from engine.resources import PeakMemory
from engine.run_figures import heatmaps_png, roc_png
from engine.runconfig import Progress, RunCancelled, RunConfig, batch_size, preflight
from engine.tracking import MAX_TRAIN_EMBEDDINGS, RunArrays

MAX_TRAIN_SCORED = 128  # training images scored after fit (for normalisation and the t-SNE view)
MIN_BATCHES_PER_EPOCH = 8  # `cpu` preset: an epoch over a tiny training set passes over it several times


@dataclass(frozen=True)
class RunStart:
    """What is known once the dataset is loaded: enough to open the run's record."""

    dataset: str
    image_size: int
    device: str
    params: dict[str, Any]


@dataclass
class RunOutcome:
    """Everything a finished run produced; `engine.run.record` writes it to both stores."""

    config: RunConfig
    start: RunStart
    metrics: dict[str, Any]
    arrays: RunArrays
    weights: dict[str, Any] | None  # the model file (engine.model_file): spec and learned state
    notes: list[str]
    timings: dict[str, float]  # fit_seconds, predict_seconds, images_per_second, peak_memory_mb
    used: dict[str, str] = field(default_factory=dict)  # what the method actually used (e.g. its weights)
    figures: dict[str, bytes] = field(default_factory=dict)  # PNGs for the record: ROC, heatmaps


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


def epoch_repeats(params: Any, preset: str, n_train: int) -> int:
    """Passes over the training set per epoch: 1, except at the `cpu` preset for methods trained in epochs,
    where a set too small for MIN_BATCHES_PER_EPOCH batches is repeated (32 images would give a few dozen
    gradient steps in all, too few for Deep SVDD or the GANs to learn anything)."""
    if preset != "cpu" or not hasattr(params, "epochs"):
        return 1
    batches = -(-n_train // max(1, min(batch_size(params), n_train)))  # ceil
    return max(1, MIN_BATCHES_PER_EPOCH // batches)  # whole passes only: 7 batches stay 1 pass


def _train_sample(data: LoadedDataset, seed: int) -> torch.Tensor:
    n = len(data.train)
    if n <= MAX_TRAIN_SCORED:
        return data.train.images
    idx = np.sort(np.random.default_rng(seed).choice(n, size=MAX_TRAIN_SCORED, replace=False))
    return data.train.images[idx]


def label_set(names: list[str], labels: np.ndarray, defect_types: list[str]) -> dict[str, Any]:
    """The test set a run was scored on: its size, images per defect type and a fingerprint of the labels,
    so that runs scored before and after labels changed are told apart."""
    rows = sorted(zip(names, (int(v) for v in labels), defect_types, strict=True))
    digest = hashlib.sha256(repr(rows).encode()).hexdigest()[:16]
    return {"n_test": len(rows), "n_per_defect_type": dict(Counter(defect_types)), "label_set": digest}


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


def what_was_used(method: Any) -> dict[str, str]:
    """What a method resolved at run time, to record instead of what was asked (e.g. weights=auto)."""
    used = {k: str(v) for k, v in getattr(method, "used", {}).items()}
    info = getattr(method, "backbone_info", None)
    if info is not None:
        used.update(backbone=info.name, weights=info.source)
        if info.sha256:
            used.update(weights_sha256=info.sha256, weights_origin=info.origin)
    return used


def compute(
    config: RunConfig,
    progress: Callable[[Progress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    on_start: Callable[[RunStart], None] | None = None,
    on_epoch: Callable[[int, dict[str, float]], None] | None = None,
    db_url: str | None = None,
) -> RunOutcome:
    """Fit `config.method` on `config.dataset` and evaluate it on the test split; writes to no store.

    `on_start` is called once the dataset is loaded (the caller may open a record then), `on_epoch` after
    every epoch with its losses; `should_stop` returning True ends the run with RunCancelled."""
    report = progress or (lambda p: None)
    method_cls, params = preflight(config, db_url)
    device = pick_device(config.device)
    report(Progress("load", 0.0))
    data = load_dataset(config.dataset, image_size=config.image_size, seed=config.seed, db_url=db_url)
    labeled, keep = split_labeled(data, config)
    seed_everything(config.seed)
    start = RunStart(
        dataset=data.name,
        image_size=data.image_size,
        device=device.name,
        params={**dataclasses.asdict(params), "labeled_anomalies": int((~keep).sum())},
    )
    if on_start is not None:
        on_start(start)

    def stop_if_asked() -> None:
        if should_stop is not None and should_stop():
            raise RunCancelled("cancelled by the user")

    with PeakMemory() as memory:
        method = method_cls(params, (data.channels, data.image_size, data.image_size), device, config.seed)
        notes = [f"labeled anomalies used for training: {int((~keep).sum())}"] if labeled is not None else []

        def epoch_done(log: EpochLog) -> None:
            if on_epoch is not None:
                on_epoch(log.epoch, log.losses)
            fraction = 0.05 + 0.8 * log.epoch / max(log.epochs, 1)
            report(Progress("fit", fraction, log.epoch, log.epochs, log.losses))
            stop_if_asked()

        batch = batch_size(params)
        repeats = epoch_repeats(params, config.preset, len(data.train))
        if repeats > 1:
            notes.append(f"each epoch passes {repeats} times over the {len(data.train)} training images")
        train_loader = make_loader(data.train.images, batch, shuffle=True, seed=config.seed, repeats=repeats)
        labeled_loader = make_loader(labeled, batch) if labeled is not None else None
        report(Progress("fit", 0.05))
        began = time.perf_counter()
        method.fit(train_loader, labeled_loader, epoch_done)
        fit_seconds = time.perf_counter() - began

        report(Progress("predict", 0.86))
        test_images = data.test.images[torch.from_numpy(keep)]
        began = time.perf_counter()
        pred = method.predict_loader(make_loader(test_images, batch)).check(test_images)
        predict_seconds = time.perf_counter() - began
        train_pred = method.predict_loader(
            make_loader(_train_sample(data, config.seed), batch), training=True
        )
        stop_if_asked()

        labels = data.test.labels.numpy()[keep]
        defect_types = [d for d, k in zip(data.test.defect_types, keep, strict=True) if k]
        names = [n for n, k in zip(data.test.names, keep, strict=True) if k]
        masks = data.test.masks.numpy()[keep] if data.test.masks is not None else None
        train_scores = train_pred.score.numpy()
        if np.ptp(pred.score.numpy()) == 0:  # e.g. fine-tuned features collapsed to one point: AUROC 0.5
            notes.append(
                "warning: every test image got the same score, so the method tells nothing apart (its training "
                "probably collapsed); try a lower lr or fewer epochs"
            )
        result_metrics = evaluate(pred, labels, defect_types, masks, train_scores)
        result_metrics.update(label_set(names, labels, defect_types))
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
        timings = {
            "fit_seconds": fit_seconds,
            "predict_seconds": predict_seconds,
            "images_per_second": len(test_images) / max(predict_seconds, 1e-9),
            "peak_memory_mb": memory.stop(),
        }
    title = f"{config.method} on {data.name}"
    figures = {"roc.png": roc_png(result_metrics, title), "heatmaps.png": heatmaps_png(arrays, test_images)}
    return RunOutcome(
        config=config,
        start=start,
        metrics=result_metrics,
        arrays=arrays,
        weights=model_file(
            method, config.method, config.preset, data.name, data.channels, data.image_size, config.seed
        ),
        notes=notes + method.notes,
        timings=timings,
        used=what_was_used(method),
        figures={name: png for name, png in figures.items() if png is not None},
    )
