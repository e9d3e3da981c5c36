"""An ensemble of saved runs on one dataset combined, before anything is recorded: the members' test and training
scores aligned by image name and fused by a rule (ensemble_rules.py), their anomaly maps standardised and
averaged, and the result evaluated like a run, with its gain over the best member. Nothing is trained again;
ensemble_runs.py reads the members from the stores and records the ensemble as a run (method `ensemble`).

Anomaly maps: the mean of each member's maps standardised by the median and std of all its test-map pixels
(unlabeled, so no test label leaks in), at the first member's map size."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from engine.artifacts import RunArrays
from engine.bootstrap import auroc_difference, span
from engine.compute import evaluate, label_set
from engine.ensemble_rules import DEFAULT_RULE, apply_rule, check_rule, standardised
from engine.methods.prediction import Prediction
from engine.metrics import image_auroc, normalize_scores


@dataclass
class Member:
    """What an ensemble takes from one saved run."""

    run_id: int
    label: str  # e.g. "padim #12"
    names: list[str]
    labels: np.ndarray  # (N,)
    defect_types: list[str]
    scores: np.ndarray  # (N,)
    train_scores: np.ndarray  # (M,) normal training images' scores
    maps: np.ndarray  # (N, H, W)
    masks: np.ndarray | None = None  # (N, H, W)
    run: Any = None  # its db.models.Run (None for members built by hand)


@dataclass
class Combined:
    """An ensemble's per-image results and metrics, before anything is recorded."""

    rule: str
    members: list[Member]
    arrays: RunArrays
    metrics: dict[str, Any]


def gain_text(metrics: dict[str, Any]) -> str:
    """'+0.043 over the best member (95% interval -0.039 to +0.118)'; '' when the gain is unknown."""
    gain = metrics.get("gain_over_best_member")
    if gain is None:
        return ""
    low, high = metrics.get("gain_over_best_member_low"), metrics.get("gain_over_best_member_high")
    interval = "" if low is None or high is None else f" (95% interval {span(low, high, signed=True)})"
    return f"{gain:+.3f} over the best member{interval}"


def _aligned(members: Sequence[Member]) -> tuple[list[str], list[np.ndarray]]:
    """The images every member scored, in the first member's order, and each member's indices of them.
    Raises when members disagree on a label: they were scored on different label sets."""
    common = set(members[0].names).intersection(*(m.names for m in members[1:]))
    names = [n for n in members[0].names if n in common]
    if not names:
        raise ValueError("the chosen runs share no scored image: pick runs of the same dataset")
    order = []
    for m in members:
        where = {n: i for i, n in enumerate(m.names)}
        order.append(np.array([where[n] for n in names]))
    first = members[0].labels[order[0]]
    for m, idx in zip(members[1:], order[1:], strict=True):
        if not np.array_equal(m.labels[idx], first):
            raise ValueError(
                f"{m.label} and {members[0].label} were scored on different labels of the same images: "
                "re-score both on the current labels (Compare page) first"
            )
    return names, order


def _resized(maps: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    if maps.shape[-2:] == size:
        return maps.astype(np.float32)
    resized = F.interpolate(torch.from_numpy(maps.astype(np.float32))[:, None], size=size, mode="bilinear")
    return resized[:, 0].numpy()


def combine(members: Sequence[Member], rule: str = DEFAULT_RULE) -> Combined:
    """Combine `members` (at least two runs of one dataset) by `rule`; evaluate it on their common images."""
    check_rule(rule)
    if len(members) < 2:
        raise ValueError(f"an ensemble needs at least two runs; got {len(members)}")
    names, order = _aligned(members)
    first = members[0]
    labels = first.labels[order[0]].astype(np.int64)
    defects = [first.defect_types[i] for i in order[0]]
    test = [m.scores[idx].astype(np.float64) for m, idx in zip(members, order, strict=True)]
    train = [m.train_scores.astype(np.float64) for m in members]
    scores, train_scores = apply_rule(rule, test, train)
    size = tuple(first.maps.shape[-2:])
    maps = np.mean(
        [standardised(_resized(m.maps[idx], size), m.maps) for m, idx in zip(members, order, strict=True)],
        axis=0,
    ).astype(np.float32)  # (N, H, W)
    masks = first.masks[order[0]] if first.masks is not None else None
    n_train = min(len(t) for t in train)
    embeddings = np.stack([standardised(s, t) for s, t in zip(test, train, strict=True)], axis=1)  # (N, K)
    train_embeddings = np.stack([standardised(t[:n_train], t) for t in train], axis=1)  # (M, K)
    prediction = Prediction(
        score=torch.from_numpy(scores.astype(np.float32)),
        anomaly_map=torch.from_numpy(maps),
        embedding=torch.from_numpy(embeddings.astype(np.float32)),
    )
    metrics = evaluate(prediction, labels, defects, masks, train_scores)
    metrics.update(label_set(names, labels, defects))
    member_auroc = {m.label: image_auroc(labels, s) for m, s in zip(members, test, strict=True)}
    metrics["member_image_auroc"] = member_auroc
    known = [v for v in member_auroc.values() if v is not None]
    if known and metrics.get("image_auroc") is not None:
        metrics["gain_over_best_member"] = metrics["image_auroc"] - max(known)
        aurocs = list(member_auroc.values())
        best = max((i for i, v in enumerate(aurocs) if v is not None), key=lambda i: aurocs[i])
        gain = auroc_difference(labels, scores, test[best])  # paired: both scored on each resampled test set
        metrics["gain_over_best_member_low"], metrics["gain_over_best_member_high"] = gain.low, gain.high
    arrays = RunArrays(
        names=names,
        labels=labels,
        defect_types=defects,
        scores=scores.astype(np.float32),
        scores_normalized=normalize_scores(scores, train_scores).astype(np.float32),
        embeddings=embeddings.astype(np.float32),
        centroid=train_embeddings.mean(axis=0).astype(np.float32),
        train_embeddings=train_embeddings.astype(np.float32),
        train_scores=train_scores.astype(np.float32),
        anomaly_maps=maps,
        masks=masks,
    )
    return Combined(rule, list(members), arrays, metrics)
