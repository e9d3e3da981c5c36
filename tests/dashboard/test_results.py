import json
from types import SimpleNamespace

import numpy as np
import pytest

from dashboard import results, thresholds
from tests.dashboard.test_figures import make_run


def test_run_info_parses_metrics_json():
    run = SimpleNamespace(
        id=4,
        method="vae",
        preset="cpu",
        dataset_name="parts",
        image_size=64,
        status="FINISHED",
        started_at=None,
        image_auroc=0.8,
        pixel_auroc=None,
        fit_seconds=2.0,
        images_per_second=10.0,
        peak_memory_mb=500.0,
        device="cpu",
        notes="n",
        mlflow_run_id="abc",
        metrics_json=json.dumps(
            {
                "average_precision": 0.7,
                "best_f1": 0.6,
                "best_f1_threshold_normalized": 0.55,
                "detection_rate": 0.65,
                "pro": 0.4,
                "pixel_auroc": 0.9,
                "roc": {"fpr": [0, 1], "tpr": [0, 1], "thresholds": [2, 1]},
                "auroc_per_defect_type": {"crack": 0.75},
            }
        ),
    )
    info = results.run_info(run)
    assert (info.label, info.average_precision, info.pro, info.pixel_auroc) == ("vae #4", 0.7, 0.4, 0.9)
    assert info.roc_fpr == (0.0, 1.0) and info.auroc_per_defect_type == {"crack": 0.75}
    assert thresholds.default_threshold(info) == 0.55
    assert info.detection_rate == 0.65 and results.leaderboard([info])["detection rate"].tolist() == [0.65]


def test_latest_per_method_and_sorted_leaderboard():
    runs = [
        make_run(5, "vae", 0.7),
        make_run(2, "vae", 0.99),
        make_run(4, "padim", 0.9),
        make_run(6, "anogan", None),
    ]
    assert [r.id for r in results.latest_per_method(runs)] == [6, 4, 5]
    board = results.leaderboard(runs, sort=True)
    assert list(board["run"]) == ["vae #2", "padim #4", "vae #5", "anogan #6"]
    assert list(board.columns) == list(results.LEADERBOARD_COLUMNS)
    assert list(results.leaderboard(runs)["run"]) == ["vae #5", "vae #2", "padim #4", "anogan #6"]


def test_ranks_put_the_highest_score_first_and_share_ties():
    assert results.ranks(np.array([0.5, 3.0, 1.0, 3.0])).tolist() == [4, 1, 3, 1]


def _table() -> results.ScoreTable:
    return results.ScoreTable(
        names=("a", "b", "c", "d", "e"),
        labels=np.array([0, 0, 1, 1, 1]),
        defect_types=("good", "good", "x", "x", "y"),
        scores=np.array([1.0, 5.0, 4.0, 0.5, 9.0]),
        scores_normalized=np.array([0.2, 0.8, 0.7, 0.1, 1.0]),
    )


def test_candidates_by_source():
    table = _table()
    assert results.candidates(table, "gallery", 0.5) == ["e", "b", "c", "a", "d"]
    assert results.candidates(table, "false positives", 0.5) == ["b"]
    assert results.candidates(table, "false negatives", 0.75) == ["d", "c"]  # lowest score first
    assert table.index("c") == 2 and table.index("zz") is None
    with pytest.raises(ValueError, match="choose from"):
        results.candidates(table, "random", 0.5)


def test_candidates_count_at_the_threshold_as_shown():
    assert results.candidates(_table(), "false negatives", 0.7004) == [
        "d"
    ]  # counted at 0.700: c (0.7) called
