import numpy as np
import pytest
from scipy.stats import norm
from sklearn.metrics import roc_auc_score

from engine.bootstrap import auroc_difference, auroc_interval


def _shifted(n_normal: int, n_anomalous: int, shift: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = np.r_[np.zeros(n_normal, int), np.ones(n_anomalous, int)]
    return labels, rng.normal(size=labels.size) + shift * labels


def test_estimate_is_the_auroc_and_lies_inside_its_interval():
    labels, scores = _shifted(25, 87, 1.0, seed=0)
    interval = auroc_interval(labels, scores)
    assert interval.estimate == pytest.approx(roc_auc_score(labels, scores))
    assert interval.low < interval.estimate < interval.high
    assert auroc_interval(labels, scores) == interval  # the same resamples for the same seed
    assert auroc_interval(labels, scores, seed=1) != interval


def test_ties_count_half_and_perfect_separation_has_no_spread():
    labels = np.array([0, 0, 1, 1, 1])
    flat = auroc_interval(labels, np.ones(5))
    assert (flat.estimate, flat.low, flat.high) == (0.5, 0.5, 0.5)
    perfect = auroc_interval(labels, np.array([0.1, 0.2, 0.8, 0.9, 1.0]))
    assert (perfect.estimate, perfect.low, perfect.high) == (1.0, 1.0, 1.0)


def test_interval_narrows_as_the_test_set_grows():
    small = auroc_interval(*_shifted(20, 20, 1.0, seed=0))
    large = auroc_interval(*_shifted(2000, 2000, 1.0, seed=0))
    assert (large.high - large.low) < 0.3 * (small.high - small.low)


def test_interval_covers_the_true_auroc_about_as_often_as_it_says():
    true = norm.cdf(1.0 / np.sqrt(2))  # AUROC of N(1, 1) against N(0, 1)
    covered = [
        (iv := auroc_interval(*_shifted(30, 30, 1.0, seed=s), resamples=300)).low <= true <= iv.high
        for s in range(100)
    ]
    assert 0.85 <= np.mean(covered) <= 1.0


def test_one_class_gives_none_and_bad_input_is_named():
    assert auroc_interval(np.zeros(4), np.arange(4.0)) is None
    assert auroc_difference(np.ones(4), np.arange(4.0), np.arange(4.0)) is None
    with pytest.raises(ValueError, match="differ in length"):
        auroc_interval(np.array([0, 1]), np.array([0.1]))
    with pytest.raises(ValueError, match="NaN"):
        auroc_interval(np.array([0, 1]), np.array([0.1, np.nan]))
    with pytest.raises(ValueError, match="level=1.5"):
        auroc_interval(np.array([0, 1]), np.array([0.1, 0.2]), level=1.5)
    with pytest.raises(ValueError, match="resamples=2"):
        auroc_interval(np.array([0, 1]), np.array([0.1, 0.2]), resamples=2)


def test_difference_of_a_run_with_itself_is_exactly_zero():
    labels, scores = _shifted(25, 87, 1.0, seed=0)
    same = auroc_difference(labels, scores, scores)
    assert (same.estimate, same.low, same.high) == (0.0, 0.0, 0.0)
    assert not same.excludes_zero()


def test_paired_difference_tells_apart_what_separate_intervals_cannot():
    """Two runs that share most of their errors: their own intervals overlap, yet the paired one excludes 0."""
    labels, scores = _shifted(25, 87, 1.0, seed=0)
    rng = np.random.default_rng(1)
    better = scores + 0.4 * labels + 0.05 * rng.normal(size=labels.size)
    a, b = auroc_interval(labels, better), auroc_interval(labels, scores)
    assert a.low < b.high  # the separate intervals overlap
    diff = auroc_difference(labels, better, scores)
    assert diff.estimate == pytest.approx(a.estimate - b.estimate)
    assert diff.low > 0 and diff.excludes_zero()
    assert auroc_difference(labels, scores, better).high < 0  # the sign follows the order of the runs
