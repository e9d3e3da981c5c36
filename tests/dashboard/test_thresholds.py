"""Thresholds on normalised scores: the 0.001 grid they are set, shown and counted on, and their confusion."""

import numpy as np
import pytest

from dashboard import thresholds
from dashboard.run_info import RunInfo
from tests.dashboard.test_figures import make_run


def test_confusion_precision_recall():
    c = thresholds.confusion_at(np.array([0, 0, 1, 1, 1]), np.array([0.2, 0.5, 0.5, 0.9, 0.1]), 0.5)
    assert (c.tn, c.fp, c.fn, c.tp) == (1, 1, 1, 2)
    assert c.precision == pytest.approx(2 / 3) and c.recall == pytest.approx(2 / 3)
    none = thresholds.confusion_at(np.array([0, 0]), np.array([0.1, 0.2]), 0.9)
    assert none.precision is None and none.recall is None


def test_a_threshold_is_counted_as_shown_on_the_0_001_grid():
    scores = np.array([0.0184, 0.0186, 0.5, 0.9])
    labels = np.array([0, 1, 0, 1])
    # 0.01855 shows as 0.019 (3 decimals), so it counts as 0.019: the 0.0186 image is called normal
    c = thresholds.confusion_at(labels, scores, 0.01855)
    assert c.threshold == 0.019 and (c.tn, c.fp, c.fn, c.tp) == (1, 1, 1, 1)
    assert thresholds.threshold_text(0.01855) == "0.019" and thresholds.snap_threshold(1.7) == 1.0
    assert thresholds.called_anomalous(scores, 0.01855).tolist() == [False, False, True, True]


def test_the_best_f1_threshold_starts_at_the_grid_step_under_it():
    run = make_run(1, "vae", 0.9)
    for best, start in ((0.6, 0.6), (0.01849, 0.018), (0.0185999, 0.018), (1.3, 1.0)):
        info = RunInfo(**{**run.__dict__, "best_f1_threshold_normalized": best})
        assert thresholds.default_threshold(info) == start  # the image that sets it stays called anomalous
