import argparse
import csv

import numpy as np
import pytest

from engine import bench
from tests.synthetic_mvtec import make_mvtec_folder


def _row(dataset: str, variant: str, seed: int, auroc: float, **fields) -> bench.Row:
    """A results row with plausible figures; `fields` overrides any other column."""
    values = dict(
        suite="noisy-mnist",
        dataset=dataset,
        impl="ours",
        method="vae",
        variant=variant,
        seed=seed,
        image_size=64,
        preset="cpu",
        image_auroc=auroc,
        pixel_auroc=None,
        fit_seconds=1.0,
        predict_seconds=0.1,
        images_per_second=9.0,
        peak_memory_mb=900.0,
        device="cpu",
        notes="",
    )
    return bench.Row(**{**values, **fields})


def test_leaderboard_suite_runs_end_to_end_and_writes_csv(tmp_path, workbench_env, capsys):
    folder = make_mvtec_folder(tmp_path / "toy")
    out = tmp_path / "results"
    code = bench.main(
        "leaderboard",
        [
            "--preset",
            "smoke",
            "--datasets",
            str(folder),
            "--methods",
            "autoencoder,vae",
            "--out",
            str(out),
            "--store",
            "main",
        ],
    )
    assert code == 0
    with (out / "leaderboard.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [r["method"] for r in rows] == ["autoencoder", "vae"]
    assert set(rows[0]) == set(bench.COLUMNS)
    for r in rows:
        assert 0.0 <= float(r["image_auroc"]) <= 1.0 and r["dataset"] == "toy" and r["impl"] == "ours"
        assert float(r["fit_seconds"]) > 0
        assert r["image_size"] == "128"  # the size used (a folder's default), not the None requested
        assert float(r["image_auroc_low"]) <= float(r["image_auroc"]) <= float(r["image_auroc_high"])
    md = (out / "leaderboard.md").read_text()
    assert "| toy | autoencoder |" in md and "Suite runtime" in md


def test_leaderboard_append_keeps_other_datasets_and_replaces_rerun_rows(tmp_path, workbench_env):
    out = tmp_path / "results"
    old = [
        _row("other", "vae", 0, 0.7, suite="leaderboard", image_size=128),
        _row("toy", "vae", 0, 0.1, suite="leaderboard", image_size=32, preset="smoke", pixel_auroc=0.2),
    ]
    old.reverse()  # the re-run dataset first: its new row must take the old row's place, not go last
    bench.write_rows(out / "leaderboard.csv", old)
    assert [bench.row_from_csv(r) for r in bench.read_rows(out / "leaderboard.csv")] == old  # round trip

    folder = make_mvtec_folder(tmp_path / "toy")
    args = ["--preset", "smoke", "--datasets", str(folder), "--methods", "vae", "--out", str(out), "--append"]
    assert bench.main("leaderboard", [*args, "--store", "main"]) == 0
    rows = bench.read_rows(out / "leaderboard.csv")
    assert [(r["dataset"], r["preset"]) for r in rows] == [("toy", "smoke"), ("other", "cpu")]
    assert "| other | vae | 0.700 |" in (out / "leaderboard.md").read_text()


def test_tuned_variants_run_with_their_own_overrides_and_image_size(tmp_path, workbench_env, monkeypatch):
    monkeypatch.setattr(
        bench,
        "TUNED_VARIANTS",
        [
            bench.Variant("vae (tuned)", "vae", (("beta", "0.5"),), image_size=48),
            bench.Variant("autoencoder (tuned)", "autoencoder"),
        ],
    )
    folder = make_mvtec_folder(tmp_path / "toy")
    out = tmp_path / "results"
    args = ["--preset", "smoke", "--datasets", str(folder), "--methods", "vae", "--out", str(out), "--tuned"]
    assert bench.main("leaderboard", args) == 0
    rows = bench.read_rows(out / "leaderboard.csv")
    assert [(r["variant"], r["method"], r["image_size"]) for r in rows] == [("vae (tuned)", "vae", "48")]
    assert float(rows[0]["image_auroc"]) >= 0.0
    assert "| toy | vae (tuned) |" in (out / "leaderboard.md").read_text()


def test_failed_run_becomes_a_row_not_an_abort(tmp_path, workbench_env):
    row = bench.run_one("x", str(tmp_path / "missing"), bench.Variant("vae", "vae"), "smoke", 0, None)
    assert row.image_auroc is None and row.notes.startswith("failed:")


def test_unknown_suite_lists_choices(capsys):
    assert bench.main("nope", []) == 2
    assert "choose from" in capsys.readouterr().err


def test_compare_with_peers_pairs_same_idea():
    ours = [
        {"dataset": "d", "method": "padim", "variant": "padim", "image_auroc": "0.9", "fit_seconds": "10"},
        {"dataset": "d", "method": "vae", "variant": "vae", "image_auroc": "0.6", "fit_seconds": "40"},
    ]
    peers = [
        {"dataset": "d", "impl": "anomalib", "method": "padim", "image_auroc": "0.8", "fit_seconds": "8"},
        {"dataset": "d", "impl": "pyod", "method": "vae", "image_auroc": "0.7", "fit_seconds": "20"},
    ]
    md = bench.compare_with_peers(ours, peers)
    assert "| d | anomalib padim | padim | 0.800 | 0.900 | +0.100 |  | 1.25x | yes |" in md
    assert "| d | pyod vae | vae | 0.700 | 0.600 | -0.100 |  | 2.00x | no |" in md
    assert "| d | padim | 0.900 | padim | 0.800 | yes |" in md


def test_compare_with_peers_gives_the_paired_interval_where_both_sides_saved_scores(tmp_path):
    from engine.bench_scores import scores_path, write_scores
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
    md = bench.compare_with_peers(ours, peers, tmp_path)
    want = auroc_difference(labels, mine, theirs)
    assert want.low > 0
    assert f"| +0.100 | {want.low:+.3f} to {want.high:+.3f} | 1.25x |" in md
    assert "| d | anomalib patchcore | - | 0.800 | - | - |  | - | - |" in md  # no pair, no interval


def test_paired_difference_needs_both_files_and_agreeing_labels(tmp_path):
    from engine.bench_scores import paired_difference, write_scores

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
        bench.Row(
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
    md = bench.summary_table(rows, "dataset", {"vae": 0.64})
    assert "| vae | 0.700 ± 0.100 | 0.500 | 0.600 ± 0.100 | 1.0 | 0.640 |" in md


def test_summary_table_of_detection_rate_reads_that_column():
    rows = [
        _row("a", "vae", 0, 0.9, detection_rate=0.6),
        _row("b", "vae", 0, 0.7, detection_rate=0.8),
        _row("b", "fusion", 0, 0.5),  # no detection rate recorded (an older row)
    ]
    md = bench.summary_table(rows, "dataset", {"vae": 0.615}, metric="detection_rate")
    assert "| vae | 0.600 | 0.800 | 0.700 ± 0.100 | 1.0 | 0.615 |" in md
    assert "| fusion | - | - | - | 1.0 |  |" in md
    assert "| vae | 0.900 | 0.700 | 0.800 ± 0.100 |" in bench.summary_table(rows, "dataset")


@pytest.mark.parametrize("values, text", [([None, None], "-"), ([0.5], "0.500")])
def test_mean_std_edge_cases(values, text):
    assert bench.mean_std(values) == text


def test_merge_earlier_replaces_rerun_rows_in_place_and_adds_new_seeds(tmp_path):
    path = tmp_path / "noisy-mnist.csv"
    earlier = [_row("digit 0", "vae", 0, 0.5), _row("digit 1", "vae", 0, 0.9)]
    bench.write_rows(path, earlier)
    now = [_row("digit 1", "vae", 1, 0.8), _row("digit 0", "vae", 0, 0.6)]
    merged = bench.merge_earlier(now, path)
    assert [(r.dataset, r.seed, r.image_auroc) for r in merged] == [
        ("digit 0", 0, 0.6),  # re-run: replaced where it stood
        ("digit 1", 0, 0.9),  # kept as recorded
        ("digit 1", 1, 0.8),  # a new seed: added after
    ]
    assert bench.merge_earlier(now, tmp_path / "missing.csv") == now
    table = bench.summary_table(merged, "dataset", bench.PAPER_NOISY_MNIST)
    assert "| vae | 0.600 | 0.850 ± 0.050 |" in table  # digit 1 averages its two seeds


def test_by_default_a_suite_records_nothing(tmp_path, workbench_env):
    from db import store

    folder = make_mvtec_folder(tmp_path / "toy")
    args = ["--preset", "smoke", "--datasets", str(folder), "--methods", "vae", "--out", str(tmp_path / "r")]
    assert bench.main("leaderboard", args) == 0
    assert bench.read_rows(tmp_path / "r" / "leaderboard.csv")[0]["image_size"] == "128"
    assert store.list_runs() == [] and not (tmp_path / "r" / "store").exists()


def test_only_record_writes_the_recorded_tables(tmp_path, workbench_env, monkeypatch):
    recorded, trial = tmp_path / "results", tmp_path / "results" / "unrecorded"
    monkeypatch.setattr(bench, "RESULTS_DIR", recorded)
    monkeypatch.setattr(bench, "UNRECORDED_DIR", trial)
    folder = make_mvtec_folder(tmp_path / "toy")
    args = ["--preset", "smoke", "--datasets", str(folder), "--methods", "vae"]
    assert bench.main("leaderboard", args) == 0  # a trial: the recorded table is not touched
    assert (trial / "leaderboard.csv").is_file() and not (recorded / "leaderboard.csv").exists()
    assert bench.main("leaderboard", [*args, "--record"]) == 0
    assert bench.read_rows(recorded / "leaderboard.csv")[0]["preset"] == "smoke"


def test_a_peer_process_that_dies_becomes_a_failed_row():
    args = argparse.Namespace(seeds=[0], image_size=None, preset="cpu")
    row = bench.peer_died("/data/magnetic_tile/magnetic_tile", "patchcore", -9, args)
    assert (row.dataset, row.impl, row.method, row.image_auroc) == (
        "magnetic_tile",
        "anomalib",
        "patchcore",
        None,
    )
    assert "out of memory" in row.notes and "-9" in row.notes
    assert bench.peer_died("tire", "vae", 1, args).impl == "pyod"


def test_leaderboard_table_shows_the_interval_where_a_row_has_one(tmp_path):
    new = _row("tire", "padim", 0, 0.766, image_auroc_low=0.6812, image_auroc_high=0.8467)
    old = _row("tire", "vae", 0, 0.559)  # recorded before rows carried intervals
    lines = bench.leaderboard_table([new, old]).splitlines()
    assert "| image AUROC | 95% interval |" in lines[0]
    assert lines[2].startswith("| tire | padim | 0.766 | 0.68-0.85 |")
    assert lines[3].startswith("| tire | vae | 0.559 |  |")


def test_rows_written_before_the_interval_columns_read_back(tmp_path):
    path = tmp_path / "old.csv"
    old_columns = [c for c in bench.COLUMNS if not c.startswith("image_auroc_")]
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=old_columns)
        writer.writeheader()
        writer.writerow({c: v for c, v in vars(_row("tire", "vae", 0, 0.5)).items() if c in old_columns})
    (row,) = [bench.row_from_csv(r) for r in bench.read_rows(path)]
    assert row.image_auroc == 0.5 and row.image_auroc_low is None and row.image_auroc_high is None
