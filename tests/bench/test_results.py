"""The rows the suites write, their CSV files and Markdown tables, and the paired comparison with peer libraries
(benchmarks/harness/results.py and scores.py)."""

import csv

import numpy as np
import pytest

from benchmarks.harness import results, variants
from tests.bench.rows import make_row


def test_compare_with_peers_pairs_same_idea():
    ours = [
        {"dataset": "d", "method": "padim", "variant": "padim", "image_auroc": "0.9", "fit_seconds": "10"},
        {"dataset": "d", "method": "vae", "variant": "vae", "image_auroc": "0.6", "fit_seconds": "40"},
    ]
    peers = [
        {"dataset": "d", "impl": "anomalib", "method": "padim", "image_auroc": "0.8", "fit_seconds": "8"},
        {"dataset": "d", "impl": "pyod", "method": "vae", "image_auroc": "0.7", "fit_seconds": "20"},
    ]
    md = results.compare_with_peers(ours, peers)
    assert "| d | anomalib padim | padim | 0.800 | 0.900 | +0.100 |  | 1.25x | yes |" in md
    assert "| d | pyod vae | vae | 0.700 | 0.600 | -0.100 |  | 2.00x | no |" in md
    assert "| d | padim | 0.900 | padim | 0.800 | yes |" in md


def test_compare_with_peers_gives_the_paired_interval_where_both_sides_saved_scores(tmp_path):
    from benchmarks.harness.scores import scores_path, write_scores
    from engine.bootstrap import auroc_difference

    rng = np.random.default_rng(0)
    labels = np.r_[np.zeros(20, int), np.ones(20, int)]
    names = [f"test/{'good' if y == 0 else 'cut'}/{i:03d}.png" for i, y in enumerate(labels)]
    theirs = labels + rng.normal(size=40)
    mine = theirs + 0.5 * labels
    write_scores(scores_path(tmp_path, "d", "ours", "padim"), names, labels, mine)
    order = rng.permutation(40)  # the peer wrote its images in another order
    write_scores(
        scores_path(tmp_path, "d", "anomalib", "padim"),
        [names[i] for i in order],
        labels[order],
        theirs[order],
    )
    ours = [
        {"dataset": "d", "method": "padim", "variant": "padim", "image_auroc": "0.9", "fit_seconds": "10"}
    ]
    peers = [
        {"dataset": "d", "impl": "anomalib", "method": "padim", "image_auroc": "0.8", "fit_seconds": "8"},
        {"dataset": "d", "impl": "anomalib", "method": "patchcore", "image_auroc": "0.8", "fit_seconds": "8"},
    ]
    md = results.compare_with_peers(ours, peers, tmp_path)
    want = auroc_difference(labels, mine, theirs)
    assert want.low > 0
    assert f"| +0.100 | {want.low:+.3f} to {want.high:+.3f} | 1.25x |" in md
    assert "| d | anomalib patchcore | - | 0.800 | - | - |  | - | - |" in md  # no pair, no interval


def test_paired_difference_needs_both_files_and_agreeing_labels(tmp_path):
    from benchmarks.harness.scores import paired_difference, write_scores

    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    write_scores(a, ["x", "y"], [0, 1], [0.1, 0.9])
    assert paired_difference(a, b) is None  # b missing
    write_scores(b, ["x", "y"], [1, 0], [0.1, 0.9])
    assert paired_difference(a, b) is None  # the same image, two labels
    write_scores(b, ["z"], [0], [0.3])
    assert paired_difference(a, b) is None  # nothing shared
    with pytest.raises(ValueError, match="2 names, 1 labels"):
        write_scores(b, ["x", "y"], [0], [0.1, 0.2])


def test_summary_table_means_and_paper_column():
    rows = [
        results.Row(
            "s",
            f"digit {d}",
            "ours",
            "vae",
            "vae",
            seed,
            None,
            "smoke",
            auc,
            None,
            1.0,
            1.0,
            1.0,
            1.0,
            "cpu",
            "",
        )
        for d, seed, auc in [(0, 0, 0.6), (0, 1, 0.8), (1, 0, 0.5)]
    ]
    md = results.summary_table(rows, "dataset", {"vae": 0.64})
    assert "| vae | 0.700 ± 0.100 | 0.500 | 0.600 ± 0.100 | 1.0 | 0.640 |" in md


def test_summary_table_of_detection_rate_reads_that_column():
    rows = [
        make_row("a", "vae", 0, 0.9, detection_rate=0.6),
        make_row("b", "vae", 0, 0.7, detection_rate=0.8),
        make_row("b", "fusion", 0, 0.5),  # no detection rate recorded (an older row)
    ]
    md = results.summary_table(rows, "dataset", {"vae": 0.615}, metric="detection_rate")
    assert "| vae | 0.600 | 0.800 | 0.700 ± 0.100 | 1.0 | 0.615 |" in md
    assert "| fusion | - | - | - | 1.0 |  |" in md
    assert "| vae | 0.900 | 0.700 | 0.800 ± 0.100 |" in results.summary_table(rows, "dataset")


@pytest.mark.parametrize("values, text", [([None, None], "-"), ([0.5], "0.500")])
def test_mean_std_edge_cases(values, text):
    assert results.mean_std(values) == text


def test_merge_earlier_replaces_rerun_rows_in_place_and_adds_new_seeds(tmp_path):
    path = tmp_path / "noisy-mnist.csv"
    earlier = [make_row("digit 0", "vae", 0, 0.5), make_row("digit 1", "vae", 0, 0.9)]
    results.write_rows(path, earlier)
    now = [make_row("digit 1", "vae", 1, 0.8), make_row("digit 0", "vae", 0, 0.6)]
    merged = results.merge_earlier(now, path)
    assert [(r.dataset, r.seed, r.image_auroc) for r in merged] == [
        ("digit 0", 0, 0.6),  # re-run: replaced where it stood
        ("digit 1", 0, 0.9),  # kept as recorded
        ("digit 1", 1, 0.8),  # a new seed: added after
    ]
    assert results.merge_earlier(now, tmp_path / "missing.csv") == now
    table = results.summary_table(merged, "dataset", variants.PAPER_NOISY_MNIST)
    assert "| vae | 0.600 | 0.850 ± 0.050 |" in table  # digit 1 averages its two seeds


def test_leaderboard_table_shows_the_interval_where_a_row_has_one(tmp_path):
    new = make_row("tire", "padim", 0, 0.766, image_auroc_low=0.6812, image_auroc_high=0.8467)
    old = make_row("tire", "vae", 0, 0.559)  # recorded before rows carried intervals
    lines = results.leaderboard_table([new, old]).splitlines()
    assert "| image AUROC | 95% interval |" in lines[0]
    assert lines[2].startswith("| tire | padim | 0.766 | 0.68-0.85 |")
    assert lines[3].startswith("| tire | vae | 0.559 |  |")


def test_rows_written_before_the_interval_columns_read_back(tmp_path):
    path = tmp_path / "old.csv"
    old_columns = [c for c in results.COLUMNS if not c.startswith("image_auroc_")]
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=old_columns)
        writer.writeheader()
        writer.writerow({c: v for c, v in vars(make_row("tire", "vae", 0, 0.5)).items() if c in old_columns})
    (row,) = [results.row_from_csv(r) for r in results.read_rows(path)]
    assert row.image_auroc == 0.5 and row.image_auroc_low is None and row.image_auroc_high is None
