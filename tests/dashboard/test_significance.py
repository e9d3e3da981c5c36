import numpy as np
import pytest

from dashboard.score_table import ScoreTable
from dashboard.significance import lead_table
from engine.bootstrap import auroc_difference, auroc_interval
from tests.dashboard.test_figures import make_run

LABELS = np.r_[np.zeros(40, int), np.ones(60, int)]
NAMES = tuple(f"img{i:03d}.png" for i in range(LABELS.size))


def _table(scores: np.ndarray, order: np.ndarray | None = None) -> ScoreTable:
    order = np.arange(LABELS.size) if order is None else order
    return ScoreTable(
        names=tuple(NAMES[i] for i in order),
        labels=LABELS[order],
        defect_types=tuple("good" if LABELS[i] == 0 else "crack" for i in order),
        scores=scores[order],
        scores_normalized=scores[order],
    )


def test_each_run_against_the_best_on_the_same_images():
    rng = np.random.default_rng(0)
    base = rng.normal(size=LABELS.size)
    strong = base + 2.0 * LABELS
    close = strong + 0.02 * rng.normal(size=LABELS.size)  # nearly the same ranking
    weak = base + 0.3 * LABELS
    shuffled = rng.permutation(LABELS.size)  # stored in another order: matched by image name
    runs = [make_run(1, "vae", 0.6), make_run(2, "padim", 0.9), make_run(3, "patchcore", 0.9)]
    tables = {1: _table(weak), 2: _table(strong), 3: _table(close, order=shuffled)}

    table = lead_table(runs, tables).set_index("run")
    assert table.index[0] in ("padim #2", "patchcore #3") and table["verdict"].iloc[0] == "best"
    assert table.loc["vae #1", "verdict"] == "behind"
    best = 2 if table.index[0] == "padim #2" else 3
    other = 5 - best
    assert table.loc[f"{'padim' if other == 2 else 'patchcore'} #{other}", "verdict"] == "within noise"

    weak_vs_best = auroc_difference(LABELS, weak, strong if best == 2 else close)
    assert table.loc["vae #1", "vs best"] == f"{weak_vs_best.estimate:+.3f}"
    assert table.loc["vae #1", "difference 95% interval"] == (
        f"{weak_vs_best.low:+.3f} to {weak_vs_best.high:+.3f}"
    )
    own = auroc_interval(LABELS, weak)
    assert table.loc["vae #1", "image AUROC"] == pytest.approx(round(own.estimate, 3))
    assert table.loc["vae #1", "95% interval"] == f"{own.low:.3f} to {own.high:.3f}"


def test_runs_on_partly_different_test_sets_compare_on_the_shared_images():
    rng = np.random.default_rng(1)
    scores = rng.normal(size=LABELS.size) + LABELS
    fewer = ScoreTable(NAMES[10:], LABELS[10:], ("x",) * 90, scores[10:] * 0.5, scores[10:])
    table = lead_table([make_run(1, "vae", 0.7), make_run(2, "padim", 0.7)], {1: _table(scores), 2: fewer})
    assert "(90 shared images)" in table["verdict"].iloc[1]


def test_fewer_than_two_scored_runs_give_no_table():
    one_class = ScoreTable(("a", "b"), np.array([0, 0]), ("good", "good"), np.array([0.1, 0.2]), np.zeros(2))
    runs = [make_run(1, "vae", 0.7), make_run(2, "padim", None)]
    assert lead_table(runs, {1: _table(np.arange(LABELS.size, dtype=float)), 2: one_class}) is None
