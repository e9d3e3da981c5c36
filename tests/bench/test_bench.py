"""The suites end to end (`python -m benchmarks SUITE`) on a tiny folder, with real runs and a real store."""

import argparse
import csv

from benchmarks.harness import cli, grid, results, suites, variants
from tests.bench.rows import make_row
from tests.synthetic_mvtec import make_mvtec_folder


def test_leaderboard_suite_runs_end_to_end_and_writes_csv(tmp_path, workbench_env, env_store, capsys):
    folder = make_mvtec_folder(tmp_path / "toy")
    out = tmp_path / "results"
    code = cli.main(
        [
            "leaderboard",
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
    assert set(rows[0]) == set(results.COLUMNS)
    for r in rows:
        assert 0.0 <= float(r["image_auroc"]) <= 1.0 and r["dataset"] == "toy" and r["impl"] == "ours"
        assert float(r["fit_seconds"]) > 0
        assert r["image_size"] == "128"  # the size used (a folder's default), not the None requested
        assert float(r["image_auroc_low"]) <= float(r["image_auroc"]) <= float(r["image_auroc_high"])
    md = (out / "leaderboard.md").read_text()
    assert "| toy | autoencoder |" in md and "Suite runtime" in md
    from db import runs as db_runs

    assert sorted(r.method for r in db_runs.list_runs(env_store)) == [
        "autoencoder",
        "vae",
    ]  # --store main: each recorded


def test_leaderboard_append_keeps_other_datasets_and_replaces_rerun_rows(tmp_path, workbench_env):
    out = tmp_path / "results"
    old = [
        make_row("other", "vae", 0, 0.7, suite="leaderboard", image_size=128),
        make_row("toy", "vae", 0, 0.1, suite="leaderboard", image_size=32, preset="smoke", pixel_auroc=0.2),
    ]
    old.reverse()  # the re-run dataset first: its new row must take the old row's place, not go last
    results.write_rows(out / "leaderboard.csv", old)
    assert [results.row_from_csv(r) for r in results.read_rows(out / "leaderboard.csv")] == old  # round trip

    folder = make_mvtec_folder(tmp_path / "toy")
    args = ["--preset", "smoke", "--datasets", str(folder), "--methods", "vae", "--out", str(out), "--append"]
    assert cli.main(["leaderboard", *args, "--store", "main"]) == 0
    rows = results.read_rows(out / "leaderboard.csv")
    assert [(r["dataset"], r["preset"]) for r in rows] == [("toy", "smoke"), ("other", "cpu")]
    assert "| other | vae | 0.700 |" in (out / "leaderboard.md").read_text()


def test_tuned_variants_run_with_their_own_overrides_and_image_size(tmp_path, workbench_env, monkeypatch):
    monkeypatch.setattr(
        suites,
        "TUNED_VARIANTS",
        [
            variants.Variant("vae (tuned)", "vae", (("beta", "0.5"),), image_size=48),
            variants.Variant("autoencoder (tuned)", "autoencoder"),
        ],
    )
    folder = make_mvtec_folder(tmp_path / "toy")
    out = tmp_path / "results"
    args = ["--preset", "smoke", "--datasets", str(folder), "--methods", "vae", "--out", str(out), "--tuned"]
    assert cli.main(["leaderboard", *args]) == 0
    rows = results.read_rows(out / "leaderboard.csv")
    assert [(r["variant"], r["method"], r["image_size"]) for r in rows] == [("vae (tuned)", "vae", "48")]
    assert float(rows[0]["image_auroc"]) >= 0.0
    assert "| toy | vae (tuned) |" in (out / "leaderboard.md").read_text()


def test_failed_run_becomes_a_row_not_an_abort(tmp_path, workbench_env):
    row = grid.run_one("x", str(tmp_path / "missing"), variants.Variant("vae", "vae"), "smoke", 0, None)
    assert row.image_auroc is None and row.notes.startswith("failed:")


def test_unknown_suite_lists_choices(capsys):
    assert cli.main(["nope"]) == 2
    assert "choose from" in capsys.readouterr().err


def test_by_default_a_suite_records_nothing(tmp_path, workbench_env, env_store):
    from db import runs as db_runs

    folder = make_mvtec_folder(tmp_path / "toy")
    args = ["--preset", "smoke", "--datasets", str(folder), "--methods", "vae", "--out", str(tmp_path / "r")]
    assert cli.main(["leaderboard", *args]) == 0
    assert results.read_rows(tmp_path / "r" / "leaderboard.csv")[0]["image_size"] == "128"
    assert db_runs.list_runs(env_store) == [] and not (tmp_path / "r" / "store").exists()


def test_only_record_writes_the_recorded_tables(tmp_path, workbench_env, monkeypatch):
    recorded, trial = tmp_path / "results", tmp_path / "results" / "unrecorded"
    monkeypatch.setattr(cli, "RESULTS_DIR", recorded)
    monkeypatch.setattr(cli, "UNRECORDED_DIR", trial)
    folder = make_mvtec_folder(tmp_path / "toy")
    args = ["--preset", "smoke", "--datasets", str(folder), "--methods", "vae"]
    assert cli.main(["leaderboard", *args]) == 0  # a trial: the recorded table is not touched
    assert (trial / "leaderboard.csv").is_file() and not (recorded / "leaderboard.csv").exists()
    assert cli.main(["leaderboard", *args, "--record"]) == 0
    assert results.read_rows(recorded / "leaderboard.csv")[0]["preset"] == "smoke"


def test_a_peer_process_that_dies_becomes_a_failedmake_row():
    args = argparse.Namespace(seeds=[0], image_size=None, preset="cpu")
    row = suites.peer_died("/data/magnetic_tile/magnetic_tile", "patchcore", -9, args)
    assert (row.dataset, row.impl, row.method, row.image_auroc) == (
        "magnetic_tile",
        "anomalib",
        "patchcore",
        None,
    )
    assert "out of memory" in row.notes and "-9" in row.notes
    assert suites.peer_died("tire", "vae", 1, args).impl == "pyod"


def test_the_command_lists_its_suites_and_the_engine_never_imports_the_harness():
    import ast
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--help"], capture_output=True, text=True, cwd=root, timeout=300
    )
    assert done.returncode == 0 and "--record" in done.stdout and "leaderboard" in done.stdout
    for path in (root / "engine").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            names += [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            assert not any(n.split(".")[0] == "benchmarks" for n in names), path
