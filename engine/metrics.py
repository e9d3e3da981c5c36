"""Evaluation metrics on arrays: image AUROC (with its bootstrap interval)/AP/ROC/best-F1, pixel AUROC, PRO (at each
mask's own resolution, maps resized to their masks, so images of several sizes are scored as they were drawn),
score normalisation."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
from PIL import Image
from scipy import ndimage
from sklearn.metrics import average_precision_score, precision_recall_curve, roc_auc_score, roc_curve

from engine.bootstrap import auroc_interval
from engine.bootstrap import checked as _check

NORMAL_CEILING = 0.5  # normalised score of the highest normal training score


@dataclass(frozen=True)
class RocCurve:
    fpr: np.ndarray
    tpr: np.ndarray
    thresholds: np.ndarray


@dataclass(frozen=True)
class ImageMetrics:
    image_auroc: float | None
    average_precision: float | None
    best_f1: float | None
    best_f1_threshold: float | None  # on raw scores
    best_f1_threshold_normalized: float | None
    detection_rate: float | None = None  # accuracy at the threshold set from normal training scores alone
    image_auroc_low: float | None = (
        None  # 95% stratified bootstrap interval of image_auroc (engine.bootstrap)
    )
    image_auroc_high: float | None = None

    def as_dict(self) -> dict[str, float | None]:
        return asdict(self)


def _both_classes(labels: np.ndarray) -> bool:
    return bool(labels.min() != labels.max()) if labels.size else False


def image_auroc(labels: np.ndarray, scores: np.ndarray) -> float | None:
    """Area under the ROC curve of image scores; None when only one class is present."""
    labels, scores = _check(labels, scores)
    return float(roc_auc_score(labels, scores)) if _both_classes(labels) else None


def average_precision(labels: np.ndarray, scores: np.ndarray) -> float | None:
    labels, scores = _check(labels, scores)
    return float(average_precision_score(labels, scores)) if _both_classes(labels) else None


def roc_points(labels: np.ndarray, scores: np.ndarray) -> RocCurve:
    """ROC curve points (false/true positive rate per threshold)."""
    labels, scores = _check(labels, scores)
    if not _both_classes(labels):
        raise ValueError("a ROC curve needs both normal (0) and anomalous (1) labels")
    fpr, tpr, thresholds = roc_curve(labels, scores, drop_intermediate=True)
    thresholds = np.where(np.isinf(thresholds), scores.max() + 1e-6, thresholds)
    return RocCurve(fpr=fpr, tpr=tpr, thresholds=thresholds)


def best_f1_threshold(labels: np.ndarray, scores: np.ndarray) -> tuple[float, float] | None:
    """(best F1, threshold reaching it) over all thresholds, predicting anomalous when score >= threshold."""
    labels, scores = _check(labels, scores)
    if not _both_classes(labels):
        return None
    precision, recall, thresholds = precision_recall_curve(labels, scores)
    f1 = 2 * precision[:-1] * recall[:-1] / np.clip(precision[:-1] + recall[:-1], 1e-12, None)
    best = int(np.argmax(f1))
    return float(f1[best]), float(thresholds[best])


def normalize_scores(scores: np.ndarray, train_scores: np.ndarray) -> np.ndarray:
    """Map scores to 0-1 against normal training scores: their min -> 0, their max -> 0.5, linear between;
    above, 0.5 + 0.5 * (1 - 1 / (1 + log(1 + excess / range))), so far-off scores stay ordered below 1."""
    scores = np.asarray(scores, dtype=np.float64)
    train_scores = np.asarray(train_scores, dtype=np.float64)
    if train_scores.size == 0:
        raise ValueError("normalisation needs at least one training score")
    lo, hi = float(train_scores.min()), float(train_scores.max())
    span = hi - lo if hi > lo else max(abs(hi), 1e-12)
    inside = np.clip((scores - lo) / span, 0.0, 1.0) * NORMAL_CEILING
    excess = np.maximum(scores - hi, 0.0) / span
    tail = (1.0 - NORMAL_CEILING) * (1.0 - 1.0 / (1.0 + np.log1p(excess)))
    return np.where(scores > hi, NORMAL_CEILING + tail, inside)


DETECTION_QUANTILE = 0.95  # the threshold of `detection_rate`: this quantile of the normal training scores


def detection_rate(
    labels: np.ndarray, scores: np.ndarray, train_scores: np.ndarray, quantile: float = DETECTION_QUANTILE
) -> float | None:
    """Accuracy (seed 000's "detection rate") of calling an image anomalous when its score exceeds the
    `quantile` of the normal training scores: a threshold set without any test label, as a deployed detector
    must set it. None without training scores."""
    labels, scores = _check(labels, scores)
    train_scores = np.asarray(train_scores, dtype=np.float64).ravel()
    if train_scores.size == 0 or labels.size == 0:
        return None
    threshold = float(np.quantile(train_scores, quantile))
    return float(np.mean((scores > threshold) == (labels == 1)))


def image_metrics(labels: np.ndarray, scores: np.ndarray, train_scores: np.ndarray) -> ImageMetrics:
    """All image-level figures for one run."""
    best = best_f1_threshold(labels, scores)
    threshold = None if best is None else best[1]
    interval = auroc_interval(labels, scores)
    return ImageMetrics(
        image_auroc=image_auroc(labels, scores),
        average_precision=average_precision(labels, scores),
        best_f1=None if best is None else best[0],
        best_f1_threshold=threshold,
        best_f1_threshold_normalized=(
            None if threshold is None else float(normalize_scores(np.array([threshold]), train_scores)[0])
        ),
        detection_rate=detection_rate(labels, scores, train_scores),
        image_auroc_low=None if interval is None else interval.low,
        image_auroc_high=None if interval is None else interval.high,
    )


def auroc_per_defect_type(
    labels: np.ndarray, scores: np.ndarray, defect_types: list[str]
) -> dict[str, float]:
    """AUROC of each defect type against the normal images."""
    labels, scores = _check(labels, scores)
    types = np.asarray(defect_types)
    normal = labels == 0
    result: dict[str, float] = {}
    for defect in sorted(set(types[labels == 1])):
        keep = normal | (types == defect)
        value = image_auroc(labels[keep], scores[keep])
        if value is not None:
            result[str(defect)] = value
    return result


MapsLike = np.ndarray | Sequence[np.ndarray]  # (N, H, W), or one (H, W) per image of its own size


def map_at(amap: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """An (h, w) anomaly map at a mask's (H, W), bilinear (as a run's maps are shown over their image): a map of a
    method that worked on a resized image, scored at the resolution its mask was drawn at."""
    if amap.shape == shape:
        return amap
    resized = Image.fromarray(np.ascontiguousarray(amap, dtype=np.float32), "F").resize(
        (shape[1], shape[0]), Image.Resampling.BILINEAR
    )
    return np.asarray(resized, dtype=np.float32)


def _pixels(masks: MapsLike, maps: MapsLike) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Masks (bool) and maps (float32) image by image, each pair of one shape: the mask's own resolution, a map
    of another size resized to it (`map_at`). A map padded with NaN at the bottom and right (a run's artifact of
    images of several sizes) is cropped back to its image first, with its mask where that is padded too."""
    masks_list = [np.asarray(m).astype(bool) for m in masks]
    maps_list = [np.asarray(m, dtype=np.float32) for m in maps]
    if len(masks_list) != len(maps_list):
        raise ValueError(f"{len(masks_list)} masks but {len(maps_list)} maps")
    for i, (mask, amap) in enumerate(zip(masks_list, maps_list, strict=True)):
        if mask.ndim != 2 or amap.ndim != 2:
            raise ValueError(f"mask {i} {mask.shape} and map {amap.shape} must both be (H, W)")
        finite = np.isfinite(amap)
        if not finite.all():
            height, width = int(finite.any(axis=1).sum()), int(finite.any(axis=0).sum())
            if mask.shape == amap.shape:
                mask = masks_list[i] = mask[:height, :width]
            amap = amap[:height, :width]
            if not np.isfinite(amap).all():
                raise ValueError(f"map {i} holds NaN or inf inside its image (not only as padding)")
        maps_list[i] = map_at(amap, mask.shape)
    return masks_list, maps_list


def pixel_auroc(masks: MapsLike, maps: MapsLike, max_pixels: int = 20_000_000) -> float | None:
    """AUROC over all pixels of ground-truth masks and anomaly maps, (N, H, W) or one (H, W) per image, at each
    mask's own resolution (a map of another size is resized to its mask); None without defect pixels.

    Beyond `max_pixels` a fixed-stride subsample keeps memory bounded.
    """
    if isinstance(masks, np.ndarray) and isinstance(maps, np.ndarray) and len(masks) != len(maps):
        raise ValueError(f"masks {masks.shape} and maps {maps.shape} differ in number")
    masks_list, maps_list = _pixels(masks, maps)
    total = sum(m.size for m in masks_list)
    step = int(np.ceil(total / max_pixels)) if total > max_pixels else 1
    starts = np.cumsum([0] + [m.size for m in masks_list])
    # every step-th pixel of all images in a row, taken image by image (no copy of all pixels at once)
    picks = [slice((-int(first)) % step, None, step) for first in starts[:-1]]
    flat_masks = np.concatenate(
        [m.ravel()[k] for m, k in zip(masks_list, picks, strict=True)] or [np.zeros(0, bool)]
    )
    flat_maps = np.concatenate([m.ravel()[k] for m, k in zip(maps_list, picks, strict=True)] or [np.zeros(0)])
    if not flat_masks.any() or flat_masks.all():
        return None
    return float(roc_auc_score(flat_masks, flat_maps))


def pro_score(masks: MapsLike, maps: MapsLike, fpr_limit: float = 0.3, steps: int = 200) -> float | None:
    """Per-region overlap (Bergmann et al., MVTec AD) integrated up to `fpr_limit`, scaled to 0-1; masks and
    maps (N, H, W) or one (H, W) per image, at each mask's own resolution (maps resized to their masks).

    For each threshold, PRO is the mean over connected defect regions of the fraction of the region
    above the threshold; it is integrated against the pixel false-positive rate on normal pixels.
    """
    arrays = isinstance(masks, np.ndarray) and isinstance(maps, np.ndarray)
    if arrays and (len(masks) != len(maps) or masks.ndim != 3 or maps.ndim != 3):
        raise ValueError(f"masks {masks.shape} and maps {maps.shape} must both be (N, H, W)")
    masks_list, maps_list = _pixels(masks, maps)
    if not any(m.any() for m in masks_list) or all(m.all() for m in masks_list):
        return None
    regions_list, offset = [], 0
    for mask in masks_list:
        labeled, count = ndimage.label(mask)
        regions_list.append(np.where(labeled > 0, labeled + offset, 0)[mask])
        offset += count
    normal_scores = np.sort(
        np.concatenate([amap[~mask] for mask, amap in zip(masks_list, maps_list, strict=True)])
    )
    # The curve starts at FPR 0, a threshold just above every normal pixel: without it, normal pixels tied at
    # the top (a flat or saturated map) start it at their share, and that stretch is left out of the integral.
    above_all = np.nextafter(normal_scores[-1], np.float32(np.inf))
    quantiles = np.linspace(1.0, 1.0 - min(1.0, fpr_limit * 1.5), steps)
    thresholds = np.concatenate([[above_all], np.quantile(normal_scores, quantiles)])
    regions = np.concatenate(regions_list)  # region id of every defect pixel
    region_sizes = np.bincount(regions, minlength=offset + 1)[1:]
    defect_scores = np.concatenate([amap[mask] for mask, amap in zip(masks_list, maps_list, strict=True)])
    fprs, pros = [], []
    for t in thresholds:
        fpr = 1.0 - np.searchsorted(normal_scores, t, side="left") / normal_scores.size
        hit = np.bincount(regions[defect_scores >= t], minlength=offset + 1)[1:]
        fprs.append(fpr)
        pros.append(float(np.mean(hit / region_sizes)))
    fprs_a, pros_a = np.asarray(fprs), np.asarray(pros)
    order = np.argsort(fprs_a)
    fprs_a, pros_a = fprs_a[order], pros_a[order]
    keep = fprs_a <= fpr_limit
    if keep.sum() < 2:
        return None
    fx = np.append(fprs_a[keep], fpr_limit)
    fy = np.append(pros_a[keep], np.interp(fpr_limit, fprs_a, pros_a))
    return float(np.trapezoid(fy, fx) / fpr_limit)
