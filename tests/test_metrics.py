import numpy as np
import pytest

from engine import metrics
from engine.bootstrap import auroc_interval


def test_image_auroc_hand_computed():
    # 2 normals (0.1, 0.4), 2 anomalies (0.35, 0.8): pairs ranked right: (0.35>0.1), (0.8>0.1), (0.8>0.4) = 3/4
    labels = np.array([0, 0, 1, 1])
    scores = np.array([0.1, 0.4, 0.35, 0.8])
    assert metrics.image_auroc(labels, scores) == pytest.approx(0.75)


def test_auroc_needs_both_classes():
    assert metrics.image_auroc(np.zeros(3), np.arange(3.0)) is None
    with pytest.raises(ValueError, match="both normal"):
        metrics.roc_points(np.zeros(3), np.arange(3.0))


def test_average_precision_hand_computed():
    # ranking: 0.8(1) 0.4(0) 0.35(1) 0.1(0): AP = 1/2 * (1/1 + 2/3)
    labels = np.array([0, 0, 1, 1])
    scores = np.array([0.1, 0.4, 0.35, 0.8])
    assert metrics.average_precision(labels, scores) == pytest.approx(0.5 * (1 + 2 / 3))


def test_best_f1_threshold():
    labels = np.array([0, 0, 0, 1, 1])
    scores = np.array([0.1, 0.2, 0.3, 0.7, 0.9])
    f1, threshold = metrics.best_f1_threshold(labels, scores)
    assert f1 == pytest.approx(1.0)
    assert threshold == pytest.approx(0.7)


def test_detection_rate_thresholds_at_the_training_quantile():
    train = np.arange(101.0)  # the 95% quantile is 95
    labels = np.array([0, 0, 0, 1, 1, 1, 1, 1])
    scores = np.array([10.0, 95.0, 99.0, 96.0, 120.0, 95.0, 50.0, 200.0])
    # called anomalous above 95: normals 10, 95 right, 99 wrong; anomalies 96, 120, 200 right, 95, 50 wrong
    assert metrics.detection_rate(labels, scores, train) == pytest.approx(5 / 8)
    assert metrics.detection_rate(labels, scores, train, quantile=0.1) == pytest.approx(6 / 8)  # above 10
    assert metrics.detection_rate(labels, scores, np.array([])) is None
    whole = metrics.image_metrics(labels, scores, train)
    assert (
        whole.detection_rate == pytest.approx(5 / 8)
        and whole.as_dict()["detection_rate"] == whole.detection_rate
    )
    assert whole.image_auroc_low <= whole.image_auroc <= whole.image_auroc_high
    assert (whole.image_auroc_low, whole.image_auroc_high) == (
        pytest.approx(auroc_interval(labels, scores).low),
        pytest.approx(auroc_interval(labels, scores).high),
    )
    one_class = metrics.image_metrics(np.zeros(3), np.arange(3.0), train)
    assert one_class.image_auroc_low is None and one_class.image_auroc_high is None


def test_roc_points_monotonic_and_finite():
    rng = np.random.default_rng(0)
    labels = np.r_[np.zeros(50), np.ones(50)]
    scores = np.r_[rng.normal(0, 1, 50), rng.normal(1, 1, 50)]
    roc = metrics.roc_points(labels, scores)
    assert roc.fpr[0] == 0 and roc.tpr[-1] == 1
    assert np.all(np.diff(roc.fpr) >= 0) and np.all(np.isfinite(roc.thresholds))


def test_mismatched_lengths_and_nan_rejected():
    with pytest.raises(ValueError, match="differ"):
        metrics.image_auroc(np.array([0, 1]), np.array([0.1]))
    with pytest.raises(ValueError, match="NaN"):
        metrics.image_auroc(np.array([0, 1]), np.array([0.1, np.nan]))


def test_normalize_scores_against_training():
    train = np.array([1.0, 2.0, 3.0])
    out = metrics.normalize_scores(np.array([1.0, 2.0, 3.0, 5.0, 100.0, 1e6, -4.0]), train)
    # inside the training range: linear from 0 to 0.5; below it: 0
    assert out[[0, 1, 2, 6]].tolist() == pytest.approx([0.0, 0.25, 0.5, 0.0])
    # above it: 5 lies 1 range above the max -> 0.5 + 0.5 * (1 - 1 / (1 + ln 2))
    assert out[3] == pytest.approx(0.5 + 0.5 * (1 - 1 / (1 + np.log(2))))
    # far-off scores keep their order and never reach 1, so a threshold can still separate them
    assert out[2] < out[3] < out[4] < out[5] < 1.0


def test_auroc_per_defect_type():
    labels = np.array([0, 0, 1, 1, 1])
    scores = np.array([0.1, 0.2, 0.9, 0.15, 0.05])
    types = ["good", "good", "crack", "scratch", "scratch"]
    per = metrics.auroc_per_defect_type(labels, scores, types)
    assert per["crack"] == pytest.approx(1.0)
    # scratch: 0.15 beats 0.1 only -> 1 of 4 pairs
    assert per["scratch"] == pytest.approx(0.25)


def test_pixel_auroc_perfect_and_random():
    masks = np.zeros((2, 4, 4))
    masks[0, :2, :2] = 1
    assert metrics.pixel_auroc(masks, masks * 0.9 + 0.05) == pytest.approx(1.0)
    assert metrics.pixel_auroc(masks, 1 - masks) == pytest.approx(0.0)
    assert metrics.pixel_auroc(np.zeros((1, 4, 4)), np.zeros((1, 4, 4))) is None


def test_pro_score_perfect_vs_half_detected():
    masks = np.zeros((1, 20, 20))
    masks[0, 2:6, 2:6] = 1  # region A
    masks[0, 12:16, 12:16] = 1  # region B
    rng = np.random.default_rng(0)
    noise = rng.uniform(0, 0.1, masks.shape)
    perfect = metrics.pro_score(masks, noise + masks)
    assert perfect == pytest.approx(1.0, abs=0.02)
    half = masks.copy()
    half[0, 12:16, 12:16] = 0  # region B is missed entirely
    only_a = metrics.pro_score(masks, noise + half)
    assert only_a == pytest.approx(0.5, abs=0.1)


def test_pro_curve_starts_at_zero_fpr_when_normal_pixels_tie_at_the_top():
    """A flat map on most normal pixels (20 % of them at its top value) with both regions above it: every
    threshold up to FPR 0.3 covers both regions, so PRO is 1. Starting the curve at the tied pixels' FPR (0.2)
    instead of 0 had left two thirds of the integral out (0.333)."""
    masks = np.zeros((1, 20, 20))
    masks[0, 2:6, 2:6] = 1
    masks[0, 12:16, 12:16] = 1
    maps = np.random.default_rng(0).uniform(0, 0.5, masks.shape)
    normal = np.flatnonzero(masks.ravel() == 0)
    maps.ravel()[normal[: int(0.2 * normal.size)]] = 0.6  # the top normal value, tied
    maps[masks == 1] = 1.0
    assert metrics.pro_score(masks, maps) == pytest.approx(1.0, abs=1e-6)
    maps[0, 12:16, 12:16] = 0.0  # region B below every normal pixel: half the regions found
    assert metrics.pro_score(masks, maps) == pytest.approx(0.5, abs=1e-6)
