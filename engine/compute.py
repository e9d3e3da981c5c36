"""The pure part of a run: load the dataset, fit the method, predict the test split, evaluate.

`compute(config) -> RunOutcome` writes to neither store (it only reads the dataset), so a benchmark, a test
or a remote task can call it and hand the outcome to `engine.run.record`. The splits stream from their files
batch by batch; what stays in memory is the model, a batch, and the test split's maps and masks (at each
image's own size at the native preset, where every method works on tiles)."""

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

from db.store import Store
from engine import metrics as M
from engine.artifacts import RunArrays
from engine.config import pick_device
from engine.data import load_dataset, make_loader
from engine.methods import EpochLog, Prediction
from engine.methods.params import make_tiling
from engine.model_file import model_file
from engine.resources import PeakMemory
from engine.run_figures import heatmaps_png, roc_png
from engine.run_inputs import as_arrays, images_per_batch, padded, split_labeled, train_sample
from engine.runconfig import Progress, RunCancelled, RunConfig, batch_size, preflight, run_image_size

MIN_BATCHES_PER_EPOCH = 8  # `cpu` preset: an epoch over a tiny training set passes over it several times
MAX_TRAIN_EMBEDDINGS = 500  # training images whose embeddings a run keeps (mapped with the test points)


class FitPace:
    """The run's progress while it fits (0.05 to 0.85): epochs done, plus the share of the pass under way that
    `fit_images` reports batch by batch; never going back, and at most every REPORT_SECONDS within a pass."""

    START, END, REPORT_SECONDS = 0.05, 0.85, 1.0

    def __init__(self, epochs: int) -> None:
        self.epoch, self.epochs, self.shown, self.at = 0, max(epochs, 1), self.START, float("-inf")

    def epoch_done(self, epoch: int, epochs: int) -> float:
        self.epoch, self.epochs = epoch, max(epochs, 1)
        self.shown = max(self.shown, self.START + (self.END - self.START) * min(epoch / self.epochs, 1.0))
        return self.shown

    def images_done(self, done: int, total: int, now: float) -> float | None:
        """The fraction to report after `done` of `total` images of a pass, or None to skip this batch."""
        if done < total and now - self.at < self.REPORT_SECONDS:
            return None
        self.at = now
        share = min((self.epoch + done / total) / self.epochs, 1.0)
        self.shown = max(self.shown, self.START + (self.END - self.START) * share)
        return self.shown


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


def epoch_repeats(params: Any, preset: str, n_train: int) -> int:
    """Passes over the training set per epoch: 1, except at the `cpu` preset for methods trained in epochs,
    where a set too small for MIN_BATCHES_PER_EPOCH batches is repeated (32 images would give a few dozen
    gradient steps in all, too few for Deep SVDD or the GANs to learn anything)."""
    if preset != "cpu" or not hasattr(params, "epochs"):
        return 1
    batches = -(-n_train // max(1, min(batch_size(params), n_train)))  # ceil
    return max(1, MIN_BATCHES_PER_EPOCH // batches)  # whole passes only: 7 batches stay 1 pass


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
    masks: np.ndarray | list[np.ndarray] | None,
    train_scores: np.ndarray,
) -> dict[str, Any]:
    """Image and pixel metrics of one run's test predictions; pixel metrics at each mask's own resolution."""
    scores = pred.score.numpy()
    image = M.image_metrics(labels, scores, train_scores)
    result: dict[str, Any] = image.as_dict()
    result["auroc_per_defect_type"] = M.auroc_per_defect_type(labels, scores, defect_types)
    result["pixel_auroc"] = None
    result["pro"] = None
    if masks is not None:
        maps = as_arrays(pred.anomaly_map)
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
    store: Store | None = None,
) -> RunOutcome:
    """Fit `config.method` on `config.dataset` and evaluate it on the test split; writes to no store.

    `on_start` is called once the dataset is loaded (the caller may open a record then), `on_epoch` after
    every epoch with its losses; `should_stop` returning True ends the run with RunCancelled."""
    report = progress or (lambda p: None)
    method_cls, params = preflight(config, store)
    tiling = make_tiling(method_cls, config.preset, dict(config.overrides))
    device = pick_device(config.device)
    report(Progress("load", 0.0))
    data = load_dataset(config.dataset, image_size=run_image_size(config), seed=config.seed, store=store)
    labeled, keep = split_labeled(data, config)
    seed_everything(config.seed)
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
    if on_start is not None:
        on_start(start)

    def stop_if_asked() -> None:
        if should_stop is not None and should_stop():
            raise RunCancelled("cancelled by the user")

    with PeakMemory() as memory:
        side = tiling.tile or data.image_size  # the square the method is built for
        method = method_cls(params, (data.channels, side, side), device, config.seed)
        method.use_tiles(tiling)
        notes = [f"labeled anomalies used for training: {int((~keep).sum())}"] if labeled is not None else []

        pace = FitPace(int(getattr(params, "epochs", 1) or 1))

        def epoch_done(log: EpochLog) -> None:
            if on_epoch is not None:
                on_epoch(log.epoch, log.losses)
            report(Progress("fit", pace.epoch_done(log.epoch, log.epochs), log.epoch, log.epochs, log.losses))
            stop_if_asked()

        def images_done(done: int, total: int) -> None:  # a long pass (feature extraction) shows its images
            fraction = pace.images_done(done, total, time.monotonic())
            if fraction is not None:
                report(Progress("fit", fraction, images=(done, total)))
                stop_if_asked()

        batch = batch_size(params)
        per_batch = images_per_batch(batch, tiling, data.train.sizes + data.test.sizes)
        repeats = epoch_repeats(params, config.preset, len(data.train))
        if repeats > 1:
            notes.append(f"each epoch passes {repeats} times over the {len(data.train)} training images")
        if tiling.tile:
            notes.append(
                f"tiles of {tiling.tile} px, at most {tiling.stride} px apart (maps stitched per image)"
            )
        train_loader = make_loader(data.train, per_batch, shuffle=True, seed=config.seed, repeats=repeats)
        labeled_loader = make_loader(labeled, per_batch) if labeled is not None else None
        report(Progress("fit", 0.05))
        began = time.perf_counter()
        method.fit_images(train_loader, labeled_loader, epoch_done, images_done)
        fit_seconds = time.perf_counter() - began

        report(Progress("predict", 0.86))
        test = data.test.subset(np.flatnonzero(keep))
        began = time.perf_counter()
        pred = method.predict_loader(make_loader(test, per_batch))
        pred.check_shapes([(data.channels, h, w) for h, w in test.sizes])
        predict_seconds = time.perf_counter() - began
        sample = make_loader(train_sample(data, config.seed), per_batch)
        train_pred = method.predict_loader(sample, training=True, maps=False)
        stop_if_asked()

        labels, defect_types, names = test.labels.numpy(), test.defect_types, test.names
        masks = own_masks = None
        if test.has_masks:
            masks = [test.mask(i).numpy().astype(np.uint8) for i in range(len(test))]
            masks = np.stack(masks) if len({m.shape for m in masks}) == 1 else masks
            # pixel metrics at each mask's own resolution (the maps resized to it), also at a square size
            own_masks = (
                masks if data.native else [test.own_mask(i).numpy().astype(bool) for i in range(len(test))]
            )
        train_scores = train_pred.score.numpy()
        if np.ptp(pred.score.numpy()) == 0:  # e.g. fine-tuned features collapsed to one point: AUROC 0.5
            notes.append(
                "warning: every test image got the same score, so the method tells nothing apart (its training "
                "probably collapsed); try a lower lr or fewer epochs"
            )
        result_metrics = evaluate(pred, labels, defect_types, own_masks, train_scores)
        result_metrics.update(label_set(names, labels, defect_types))
        centroid = method.centroid if method.centroid is not None else train_pred.embedding.mean(0)
        maps = as_arrays(pred.anomaly_map)
        if isinstance(maps, list):
            notes.append(
                "test images of several sizes: maps and masks padded to the largest (NaN / 0 outside)"
            )
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
            anomaly_maps=padded(maps, np.nan),
            reconstructions=None
            if pred.reconstruction is None
            else padded(as_arrays(pred.reconstruction), 0.0),
            attentions=None if pred.attention is None else padded(as_arrays(pred.attention), np.nan),
            masks=padded(masks, 0.0),
        )
        timings = {
            "fit_seconds": fit_seconds,
            "predict_seconds": predict_seconds,
            "images_per_second": len(test) / max(predict_seconds, 1e-9),
            "peak_memory_mb": memory.stop(),
        }
    title = f"{config.method} on {data.name}"
    figures = {"roc.png": roc_png(result_metrics, title), "heatmaps.png": heatmaps_png(arrays, test)}
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
