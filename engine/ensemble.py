"""Ensembles of saved runs on one dataset: seed 000's idea (fuse cues, each against its own threshold),
generalised from a VAE's two cues to whole runs. Nothing is trained again: the members' saved test and training
scores and anomaly maps are normalised per member and combined by a rule, evaluated like a run and recorded
as one (method `ensemble`), so it gets a row and a ROC curve on the Compare page.

Rules (each member's test scores s and its normal training scores t):
- `mean`: the mean over members of (s - median t) / std t;
- `max_margin` (seed 000's fusion): per image the member margin (s - q95 t) / std t of the largest size, so the
  decision is the one furthest from its own threshold;
- `rank_mean`: the mean over members of the fraction of that member's test scores below s (rank averaging).

Anomaly maps: the mean of each member's maps standardised by the median and std of all its test-map pixels
(unlabeled, so no test label leaks in), at the first member's map size."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from db import runs as db_runs
from db.store import Store
from engine.artifacts import RunArrays, load_predictions
from engine.bootstrap import auroc_difference, span
from engine.compute import evaluate, label_set
from engine.methods import Prediction
from engine.methods.catalog import ENSEMBLE
from engine.metrics import image_auroc, normalize_scores
from engine.tracking import RunTracker

QUANTILE = 0.95  # the per-member threshold of max_margin, as vae_fusion's default
MIN_SPREAD = 1e-8


def _spread(train: np.ndarray) -> float:
    return max(float(np.std(train)), MIN_SPREAD)


def standardised(scores: np.ndarray, train: np.ndarray) -> np.ndarray:
    return (scores - float(np.median(train))) / _spread(train)


def margin(scores: np.ndarray, train: np.ndarray) -> np.ndarray:
    return (scores - float(np.quantile(train, QUANTILE))) / _spread(train)


def _rank(values: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Fraction of `reference` below each value, ties counted half."""
    ordered = np.sort(reference)
    low = np.searchsorted(ordered, values, side="left")
    high = np.searchsorted(ordered, values, side="right")
    return (low + high) / (2.0 * len(ordered))


def _furthest(margins: np.ndarray) -> np.ndarray:
    """(K, N) margins -> (N,): per column the entry of the largest absolute value (its sign is the decision)."""
    pick = np.abs(margins).argmax(axis=0)
    return np.take_along_axis(margins, pick[None], axis=0)[0]


Cue = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]  # (values, member test, member train) -> cue
RULES: dict[
    str, tuple[Cue, Callable[[np.ndarray], np.ndarray]]
] = {  # rule -> (per-member cue, (K, N) -> (N,))
    "mean": (lambda v, s, t: standardised(v, t), lambda cues: cues.mean(axis=0)),
    "max_margin": (lambda v, s, t: margin(v, t), _furthest),
    "rank_mean": (lambda v, s, t: _rank(v, s), lambda cues: cues.mean(axis=0)),
}


def apply_rule(rule: str, test: list[np.ndarray], train: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Combined test scores (N,) and training scores: the members' training samples paired by position, cut
    to the shortest (the same images when the members share the seed)."""
    cue, reduce = RULES[check_rule(rule)]
    n_train = min(len(t) for t in train)
    return (
        reduce(np.stack([cue(s, s, t) for s, t in zip(test, train, strict=True)])),
        reduce(np.stack([cue(t[:n_train], s, t) for s, t in zip(test, train, strict=True)])),
    )


DEFAULT_RULE = "max_margin"  # measured best or tied on all five shared datasets (benchmarks/ensemble.py)


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


def check_rule(rule: str) -> str:
    if rule not in RULES:
        raise ValueError(f"unknown ensemble rule {rule!r}; choose from {sorted(RULES)}")
    return rule


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


def load_member(run_id: int, store: Store | None = None, mlflow_uri: str | None = None) -> Member:
    """A finished run's saved predictions as an ensemble member."""
    store = store or Store.at()
    run = db_runs.get_run(store, run_id)
    if run is None or run.status != "FINISHED":
        raise ValueError(f"run #{run_id} is not a finished run")
    if run.method == ENSEMBLE:
        raise ValueError(f"run #{run_id} is an ensemble itself: choose the runs it was made of")
    preds = load_predictions(run, mlflow_uri)
    missing = [
        k for k in ("names", "labels", "scores", "train_scores", "anomaly_maps") if preds.get(k) is None
    ]
    if missing:
        raise ValueError(f"run #{run_id}'s saved predictions lack {', '.join(missing)}: train it again")
    masks = preds.get("masks")
    return Member(
        run_id=run.id,
        label=f"{run.method} #{run.id}",
        names=[str(n) for n in preds.get("names")],
        labels=preds.get("labels").astype(np.int64),
        defect_types=[str(d) for d in preds.get("defect_types")],
        scores=preds.get("scores").astype(np.float64),
        train_scores=preds.get("train_scores").astype(np.float64),
        maps=preds.get("anomaly_maps").astype(np.float32),
        masks=None if masks is None else masks.astype(np.uint8),
        run=run,
    )


def latest_members(dataset: str, store: Store | None = None, by: str = "method") -> list[int]:
    """Ids of the latest finished run on `dataset` (ensembles left out) of each method (`by="method"`) or of each
    distinct setting (`by="settings"`: method, preset, params and image size, so tuned variants of one method are
    separate members), oldest first."""
    store = store or Store.at()
    if by not in MEMBER_KEYS:
        raise ValueError(f"unknown by={by!r} for ensemble members; choose from {sorted(MEMBER_KEYS)}")
    latest: dict[tuple, int] = {}
    for run in db_runs.list_runs(store, dataset_name=dataset, status="FINISHED"):  # newest first
        if run.method != ENSEMBLE:
            latest.setdefault(MEMBER_KEYS[by](run), run.id)
    return sorted(latest.values())


MEMBER_KEYS: dict[str, Callable[[Any], tuple]] = {
    "method": lambda run: (run.method,),
    "settings": lambda run: (run.method, run.preset, run.params_json, run.image_size),
}


def _costs(members: Sequence[Member], n_images: int) -> dict[str, float]:
    """What the ensemble costs: every member trained and run (fit and predict times add up)."""

    def known(name: str) -> list[float]:
        return [v for m in members if (v := getattr(m.run, name, None)) is not None]

    fit, predict = sum(known("fit_seconds")), sum(known("predict_seconds"))
    out = {"fit_seconds": fit, "predict_seconds": predict}
    if predict > 0:
        out["images_per_second"] = n_images / predict
    peaks = known("peak_memory_mb")
    if peaks:
        out["peak_memory_mb"] = max(peaks)
    return out


def record(
    run_ids: Sequence[int],
    rule: str = DEFAULT_RULE,
    author: str = "",
    store: Store | None = None,
    mlflow_uri: str | None = None,
) -> tuple[int, Combined]:
    """Combine the saved runs `run_ids` by `rule` and record the result as a run in both stores; its id."""
    check_rule(rule)
    if len(set(run_ids)) < 2:
        raise ValueError("an ensemble needs at least two different runs")
    members = [load_member(i, store, mlflow_uri) for i in dict.fromkeys(run_ids)]
    runs = [m.run for m in members]
    datasets = {r.dataset_name for r in runs}
    if len(datasets) > 1:
        raise ValueError(
            f"the chosen runs are on different datasets ({', '.join(sorted(datasets))}): pick one"
        )
    combined = combine(members, rule)
    presets = {r.preset for r in runs}
    params = {
        "rule": rule,
        "members": [m.run_id for m in members],
        "member_methods": [r.method for r in runs],
    }
    note = f"ensemble ({rule}) of " + ", ".join(m.label for m in members)
    gain = combined.metrics.get("gain_over_best_member")
    if gain is not None:
        note += f"; {gain:+.3f} image AUROC over its best member"
    with RunTracker(
        dataset=runs[0].dataset_name,
        method=ENSEMBLE,
        preset=presets.pop() if len(presets) == 1 else "mixed",
        params=params,
        seed=runs[0].seed,
        image_size=runs[0].image_size,
        device="cpu",
        user=author,
        store=store,
        mlflow_uri=mlflow_uri,
    ) as tracker:
        tracker.finish(
            metrics=combined.metrics,
            arrays=combined.arrays,
            weights=None,
            notes=[note],
            timings=_costs(members, len(combined.arrays.names)),
        )
    return tracker.run_id, combined
