"""The rules that fuse saved runs' scores into an ensemble's, on arrays (seed 000's idea: fuse cues, each against
its own threshold, generalised from a VAE's two cues to whole runs). Each member's test scores s and its normal
training scores t:
- `mean`: the mean over members of (s - median t) / std t;
- `max_margin` (seed 000's fusion): per image the member margin (s - q95 t) / std t of the largest size, so the
  decision is the one furthest from its own threshold;
- `rank_mean`: the mean over members of the fraction of that member's test scores below s (rank averaging)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

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


DEFAULT_RULE = "max_margin"  # measured best or tied on all five shared datasets (benchmarks/ensemble.py)


def check_rule(rule: str) -> str:
    if rule not in RULES:
        raise ValueError(f"unknown ensemble rule {rule!r}; choose from {sorted(RULES)}")
    return rule


def apply_rule(rule: str, test: list[np.ndarray], train: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Combined test scores (N,) and training scores: the members' training samples paired by position, cut
    to the shortest (the same images when the members share the seed)."""
    cue, reduce = RULES[check_rule(rule)]
    n_train = min(len(t) for t in train)
    return (
        reduce(np.stack([cue(s, s, t) for s, t in zip(test, train, strict=True)])),
        reduce(np.stack([cue(t[:n_train], s, t) for s, t in zip(test, train, strict=True)])),
    )
