import numpy as np
import pytest

from dashboard.score_table import ScoreTable, candidates, ranks


def test_ranks_put_the_highest_score_first_and_share_ties():
    assert ranks(np.array([0.5, 3.0, 1.0, 3.0])).tolist() == [4, 1, 3, 1]


def _table() -> ScoreTable:
    return ScoreTable(
        names=("a", "b", "c", "d", "e"),
        labels=np.array([0, 0, 1, 1, 1]),
        defect_types=("good", "good", "x", "x", "y"),
        scores=np.array([1.0, 5.0, 4.0, 0.5, 9.0]),
        scores_normalized=np.array([0.2, 0.8, 0.7, 0.1, 1.0]),
    )


def test_candidates_by_source():
    table = _table()
    assert candidates(table, "gallery", 0.5) == ["e", "b", "c", "a", "d"]
    assert candidates(table, "false positives", 0.5) == ["b"]
    assert candidates(table, "false negatives", 0.75) == ["d", "c"]  # lowest score first
    assert table.index("c") == 2 and table.index("zz") is None
    with pytest.raises(ValueError, match="choose from"):
        candidates(table, "random", 0.5)


def test_candidates_count_at_the_threshold_as_shown():
    assert candidates(_table(), "false negatives", 0.7004) == ["d"]  # counted at 0.700: c (0.7) called
