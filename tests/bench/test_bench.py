"""The suites end to end (`python -m benchmarks SUITE`) on a tiny folder, with real runs and a real store."""

import argparse
import csv

import pytest

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
    ]  # --store main: each recorded, as a job of the sweep
    from engine import jobs

    assert sorted((j.method, j.status, j.run_id is not None) for j in jobs.list_jobs()) == [
        ("autoencoder", "DONE", True),
        ("vae", "DONE", True),
    ]


@pytest.mark.slow  # a second suite run, the first covers the store and tables
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


@pytest.mark.slow  # a suite run of its own, for the tuned variants
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


def test_a_refused_configuration_becomes_a_row_not_an_abort(tmp_path, workbench_env):
    rows = grid.run_grid(
        "x", [str(tmp_path / "missing")], [variants.Variant("vae", "vae")], "smoke", [0], None
    )
    assert [(r.dataset, r.image_auroc) for r in rows] == [("missing", None)]
    assert rows[0].notes.startswith("failed:") and "missing" in rows[0].notes


def test_a_failed_job_becomes_a_row_with_its_error(tmp_path, workbench_env, env_store):
    from db import jobs as db_jobs
    from engine import jobs
    from engine.runconfig import RunConfig

    folder = make_mvtec_folder(tmp_path / "toy")
    config = RunConfig(dataset=str(folder), method="vae", preset="smoke")
    cell = grid.queue("x", variants.Variant("vae", "vae"), config)
    db_jobs.finish_job(env_store, cell.job_id, "FAILED", "out of memory while fitting")
    row = grid.row_of(cell, None)
    assert (row.dataset, row.method, row.image_auroc) == ("toy", "vae", None)
    assert row.notes == "failed: out of memory while fitting"
    assert jobs.get_job(cell.job_id).status == "FAILED"


@pytest.mark.slow  # trains the run twice: as a job, then alone
def test_a_row_and_its_scores_are_those_of_computing_the_run_directly(tmp_path, workbench_env):
    """The jobs run the same computation as `engine.compute` alone: the same AUROCs and per-image scores."""
    import os

    from benchmarks.harness.bench_store import STORE_VARIABLES
    from benchmarks.harness.scores import read_scores, scores_path
    from engine.compute import compute
    from engine.run_inputs import load_run_inputs
    from engine.runconfig import RunConfig

    folder = make_mvtec_folder(tmp_path / "toy")
    before = {name: os.environ.get(name) for name in STORE_VARIABLES}
    [row] = grid.run_grid(
        "x", [str(folder)], [variants.Variant("ae", "autoencoder")], "smoke", [1], None, tmp_path
    )
    assert {
        name: os.environ.get(name) for name in STORE_VARIABLES
    } == before  # the environment's stores are back
    config = RunConfig(dataset=str(folder), method="autoencoder", preset="smoke", seed=1)
    outcome = compute(config, load_run_inputs(config))
    assert (row.image_auroc, row.pixel_auroc) == (
        outcome.metrics["image_auroc"],
        outcome.metrics["pixel_auroc"],
    )
    assert row.detection_rate == outcome.metrics["detection_rate"] and row.image_size == 128
    scored = read_scores(scores_path(tmp_path, "toy", "ours", "autoencoder"))
    a = outcome.arrays
    assert scored == {n: (int(y), float(s)) for n, y, s in zip(a.names, a.labels, a.scores, strict=True)}


def test_unknown_suite_lists_choices(capsys):
    assert cli.main(["nope"]) == 2
    assert "choose from" in capsys.readouterr().err


@pytest.mark.slow  # a suite run in its own throw-away store (MLflow created afresh)
def test_by_default_a_suite_records_nothing(tmp_path, workbench_env, env_store):
    from db import runs as db_runs

    folder = make_mvtec_folder(tmp_path / "toy")
    args = ["--preset", "smoke", "--datasets", str(folder), "--methods", "vae", "--out", str(tmp_path / "r")]
    assert cli.main(["leaderboard", *args]) == 0
    assert results.read_rows(tmp_path / "r" / "leaderboard.csv")[0]["image_size"] == "128"
    assert db_runs.list_runs(env_store) == [] and not (tmp_path / "r" / "store").exists()
    from engine import jobs

    assert jobs.list_jobs(store=env_store) == []  # the jobs went to a throw-away store


@pytest.mark.slow  # two suite runs, each in a throw-away store
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


@pytest.mark.slow  # `python -m benchmarks --help` in a fresh interpreter
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
