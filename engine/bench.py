"""Benchmark suites (`python -m engine bench SUITE`): each seed's protocol, a leaderboard, and peer libraries.

Every suite writes `<suite>.csv` (one row per run) and a Markdown summary beside it, and prints its own
runtime: into `benchmarks/results/` (the recorded tables that docs/results.md shows) only with `--record`,
else into `benchmarks/results/unrecorded/`, so a trial at another preset never replaces a recorded table. Runs are only computed (`engine.compute`, nothing recorded) unless --store asks to
record them: `bench` in a separate store under `benchmarks/results/store/`, `main` in the app's own store.
The rows, their CSV files and the Markdown tables are `engine/bench_results.py`, the variants
`engine/bench_variants.py` (both re-exported here).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import asdict
from pathlib import Path

from engine.bench_results import (  # noqa: F401  (re-exported: bench.Row, bench.summary_table, ...)
    COLUMNS,
    PEER_PAIRS,
    Row,
    _f,
    best_of,
    compare_with_peers,
    leaderboard_table,
    mean_std,
    merge_earlier,
    read_rows,
    row_from_csv,
    save,
    summary_table,
    write_rows,
)
from engine.bench_scores import scores_path, write_scores
from engine.bench_variants import (  # noqa: F401  (re-exported: bench.Variant, bench.TUNED_VARIANTS, ...)
    FEATURE_LAYER_1,
    MAHALANOBIS,
    NOISY_MNIST_TUNED,
    NOISY_MNIST_VARIANTS,
    OBJECT_VARIANTS,
    PAPER_NOISY_MNIST,
    PAPER_OBJECTS,
    PAPER_TEXTURES,
    TEXTURE_VARIANTS,
    TUNED_VARIANTS,
    Variant,
    all_variants,
)
from engine.config import PROJECT_ROOT

RESULTS_DIR = PROJECT_ROOT / "benchmarks" / "results"
UNRECORDED_DIR = RESULTS_DIR / "unrecorded"  # trial runs' tables (ignored by git)
SHARED_DATASETS = (PROJECT_ROOT / ".." / "shared" / "datasets").resolve()
TEXTURES = ["piped/pa_bdp01_tl", "piped/pa_brg01_rl", "piped/pa_flr01_tl", "magnetic_tile/magnetic_tile"]
OBJECTS = ["mvtec_3d_ad/tire"]
ALL_SHARED = TEXTURES + OBJECTS


RECORD_RUNS = False  # set by `main` from --store: record each run in a store, or only compute it


def run_one(
    suite: str,
    dataset: str,
    variant: Variant,
    preset: str,
    seed: int,
    image_size: int | None,
    scores_dir: Path | None = None,
) -> Row:
    """Train and evaluate one variant (recorded in a store only when RECORD_RUNS; its per-image test scores
    written to `scores_dir` when given); a failure becomes a row with its error, never an abort."""
    from engine.compute import compute
    from engine.run import RunConfig, open_record, record

    image_size = variant.image_size or image_size
    config = RunConfig(
        dataset=dataset,
        method=variant.method,
        preset=preset,
        overrides=variant.overrides,
        image_size=image_size,
        seed=seed,
    )
    name = Path(dataset).name if os.sep in dataset else dataset
    try:
        if RECORD_RUNS:
            with ExitStack() as stack:
                trackers = []

                def on_start(start):
                    trackers.append(stack.enter_context(open_record(config, start, None, None)))

                outcome = compute(config, on_start=on_start)
                record(outcome, trackers[0])
        else:
            outcome = compute(config)
    except Exception as exc:  # recorded in the CSV, the suite goes on
        return Row(
            suite,
            name,
            "ours",
            variant.method,
            variant.label,
            seed,
            image_size,
            preset,
            None,
            None,
            None,
            None,
            None,
            None,
            "",
            f"failed: {exc}"[:300],
        )
    t = outcome.timings
    if scores_dir is not None:
        a = outcome.arrays
        write_scores(
            scores_path(scores_dir, outcome.start.dataset, "ours", variant.method),
            a.names,
            a.labels,
            a.scores,
        )
    return Row(
        suite,
        outcome.start.dataset,
        "ours",
        variant.method,
        variant.label,
        seed,
        outcome.start.image_size,  # the size used (the dataset's default when none was asked for)
        preset,
        outcome.metrics.get("image_auroc"),
        outcome.metrics.get("pixel_auroc"),
        round(t["fit_seconds"], 2),
        round(t["predict_seconds"], 2),
        round(t["images_per_second"], 1),
        round(t["peak_memory_mb"]),
        outcome.start.device,
        "; ".join(outcome.notes)[:300],
        outcome.metrics.get("detection_rate"),
        outcome.metrics.get("image_auroc_low"),
        outcome.metrics.get("image_auroc_high"),
    )


def _datasets(names: Sequence[str]) -> list[str]:
    out = []
    for name in names:
        path = SHARED_DATASETS / name
        nested = (
            sorted(SHARED_DATASETS.glob(f"*/{name}")) if "/" not in name else []
        )  # "tire" -> mvtec_3d_ad/tire
        if path.is_dir() and (path / "train").is_dir():
            out.append(str(path))
        elif len(nested) == 1 and nested[0].is_dir():
            out.append(str(nested[0]))
        elif Path(name).is_dir() or ":" in name or name.startswith("mnist"):
            out.append(name)
        else:
            print(f"skipping {name}: not found under {SHARED_DATASETS}", file=sys.stderr)
    return out


def run_grid(
    suite: str,
    datasets: Sequence[str],
    variants: Sequence[Variant],
    preset: str,
    seeds: Sequence[int],
    image_size: int | None,
    scores_dir: Path | None = None,
) -> list[Row]:
    rows: list[Row] = []
    total = len(datasets) * len(variants) * len(seeds)
    for dataset in datasets:
        for seed in seeds:
            for variant in variants:
                start = time.perf_counter()
                row = run_one(suite, dataset, variant, preset, seed, image_size, scores_dir)
                rows.append(row)
                auroc = "-" if row.image_auroc is None else f"{row.image_auroc:.3f}"
                print(
                    f"[{len(rows)}/{total}] {suite} {row.dataset} {variant.label} seed={seed}: "
                    f"AUROC {auroc} ({time.perf_counter() - start:.0f} s) {row.notes if row.image_auroc is None else ''}",
                    flush=True,
                )
    return rows


def suite_name(args: argparse.Namespace) -> str:
    """noisy-mnist's results file: its tuned variants keep their own table."""
    return "noisy-mnist-tuned" if args.tuned else "noisy-mnist"


def suite_noisy_mnist(args: argparse.Namespace) -> tuple[list[Row], str]:
    digits = [int(d) for d in args.digits.split(",")]
    variants = (NOISY_MNIST_TUNED if args.tuned else NOISY_MNIST_VARIANTS) + (
        [v for v in all_variants() if v.method not in {"vae", "anogan", "vaegan"}] if args.all_methods else []
    )
    rows = run_grid(
        "noisy-mnist",
        [f"mnist-noisy:{d}" for d in digits],
        variants,
        args.preset,
        args.seeds,
        args.image_size,
    )
    for r in rows:  # group by normal digit
        r.dataset = r.dataset.replace("mnist-noisy:", "digit ")
    if args.append:  # e.g. more seeds beside the recorded ones
        rows = merge_earlier(rows, args.out / f"{suite_name(args)}.csv")
    seeds = sorted({r.seed for r in rows})
    md = (
        f"### {suite_name(args)} (seed 002 protocol; preset {args.preset}; seeds {seeds}; image AUROC mean ± std "
        f"over seeds per digit, mean ± std over digits)\n\n"
        + summary_table(rows, "dataset", PAPER_NOISY_MNIST)
    )
    return rows, md


def suite_textures(args: argparse.Namespace) -> tuple[list[Row], str]:
    rows = run_grid(
        "textures",
        _datasets(args.datasets or TEXTURES),
        TEXTURE_VARIANTS,
        args.preset,
        args.seeds,
        args.image_size,
    )
    # the seed's table reports a detection rate (accuracy at thresholds from the training data), not AUROC
    md = (
        f"### textures (seed 000 comparison; preset {args.preset})\n\nImage AUROC:\n\n"
        + summary_table(rows, "dataset")
        + "\n\nDetection rate (accuracy, threshold = the 95% quantile of the normal training scores; the seed's"
        + " measure):\n\n"
        + summary_table(rows, "dataset", PAPER_TEXTURES, metric="detection_rate")
    )
    return rows, md


def suite_objects(args: argparse.Namespace) -> tuple[list[Row], str]:
    rows = run_grid(
        "objects",
        _datasets(args.datasets or OBJECTS),
        OBJECT_VARIANTS,
        args.preset,
        args.seeds,
        args.image_size,
    )
    md = f"### objects (seed 004 comparison; preset {args.preset})\n\n" + summary_table(
        rows, "dataset", PAPER_OBJECTS
    )
    return rows, md


def suite_leaderboard(args: argparse.Namespace) -> tuple[list[Row], str]:
    variants = TUNED_VARIANTS if args.tuned else all_variants()
    if args.methods:
        variants = [v for v in variants if v.method in args.methods.split(",")]
    rows = run_grid(
        "leaderboard",
        _datasets(args.datasets or ALL_SHARED),
        variants,
        args.preset,
        args.seeds,
        args.image_size,
    )
    if args.append:
        rows = merge_earlier(rows, args.out / "leaderboard.csv")
    return rows, f"### leaderboard (preset {args.preset})\n\n" + leaderboard_table(rows)


def peer_died(dataset: str, method: str, returncode: int, args: argparse.Namespace) -> Row:
    """The failed row of a peer process that ended without writing its own (killed, out of memory, crashed)."""
    why = "killed, e.g. out of memory" if returncode < 0 or returncode == 137 else "crashed"
    return Row(
        "peers", Path(dataset).name, "anomalib" if method in ("padim", "patchcore", "ganomaly") else "pyod",
        method, method, args.seeds[0], args.image_size or 128, args.preset, None, None, None, None, None, None,
        "", f"failed: the peer process {why} (exit code {returncode})",
    )  # fmt: skip


def suite_peers(args: argparse.Namespace) -> tuple[list[Row], str]:
    """Run our methods and the peers of the same ideas on the same data in one go, then pair them.

    --methods narrows both sides (our keys, e.g. padim,patchcore); --append keeps the earlier rows, ours and
    the peers', that this invocation does not re-run."""
    from engine.methods import METHODS
    from engine.methods.base import make_params

    python = PROJECT_ROOT / ".venv-peers" / "bin" / "python"
    if not python.exists():
        raise SystemExit("peer libraries are not installed: run `bash benchmarks/setup_peers.sh` first")
    datasets = _datasets(args.datasets or ALL_SHARED)
    methods = sorted(set(PEER_PAIRS.values()))
    if args.methods:
        methods = [m for m in methods if m in args.methods.split(",")]
    peer_methods = [p for p, ours in PEER_PAIRS.items() if ours in methods]
    scores_dir = args.out / "peer-scores"  # per-image scores of both sides, for the paired comparison
    rows = run_grid(
        "peers",
        datasets,
        [Variant(m, m) for m in methods],
        args.preset,
        args.seeds,
        args.image_size,
        scores_dir,
    )
    # anomalib's PaDiM / PatchCore see what ours see at this preset (each method's own backbone input)
    input_sizes = {m: make_params(METHODS[m], args.preset).input_size for m in ("padim", "patchcore")}
    peers_csv = args.out / "peers_raw.csv"
    fresh = args.out / "peers_raw.new.csv"
    fresh.unlink(missing_ok=True)
    for dataset in datasets:  # one process per peer run: one that dies (e.g. out of memory) is one failed row
        for method in peer_methods:
            cmd = [str(python), str(PROJECT_ROOT / "benchmarks" / "peers.py"), "--datasets", dataset,
                   "--image-size", str(args.image_size or 128), "--methods", method, "--out", str(fresh),
                   "--scores", str(scores_dir)]  # fmt: skip
            if method in input_sizes:
                cmd += ["--input-size", str(input_sizes[method])]
            print("running peer:", " ".join(cmd), flush=True)
            done = subprocess.run(cmd, check=False)
            if done.returncode != 0:
                write_rows(
                    fresh,
                    [
                        *(row_from_csv(r) for r in (read_rows(fresh) if fresh.exists() else [])),
                        peer_died(dataset, method, done.returncode, args),
                    ],
                )
    peer_rows = [row_from_csv(r) for r in read_rows(fresh)]
    fresh.unlink()
    fresh.with_suffix(".md").unlink(missing_ok=True)
    if args.append:
        rows = merge_earlier(rows, args.out / "peers.csv")
        peer_rows = merge_earlier(peer_rows, peers_csv)
    write_rows(peers_csv, peer_rows)
    peers_csv.with_suffix(".md").write_text(f"### peers_raw\n\n{leaderboard_table(peer_rows)}\n")
    as_text = [{k: str(v) if v is not None else "" for k, v in asdict(r).items()} for r in rows]
    peers_text = [{k: str(v) if v is not None else "" for k, v in asdict(r).items()} for r in peer_rows]
    md = (
        f"### peers (preset {args.preset}, image size {args.image_size or 128}, backbone input on both sides: "
        f"PaDiM {input_sizes['padim']} px, PatchCore {input_sizes['patchcore']} px)\n\n"
        + compare_with_peers(as_text, peers_text, scores_dir)
    )
    return rows, md


SUITES = {
    "noisy-mnist": suite_noisy_mnist,
    "textures": suite_textures,
    "objects": suite_objects,
    "leaderboard": suite_leaderboard,
    "peers": suite_peers,
}


def main(suite: str, argv: Sequence[str]) -> int:
    if suite not in SUITES:
        print(f"error: unknown suite {suite!r}; choose from {sorted(SUITES)}", file=sys.stderr)
        return 2
    parser = argparse.ArgumentParser(prog=f"python -m engine bench {suite}")
    parser.add_argument("--preset", default="cpu", choices=["smoke", "cpu", "paper"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--digits", default="0,1,2,3,4,5,6,7,8,9")
    parser.add_argument("--datasets", nargs="*", default=None)
    parser.add_argument("--methods", default=None, help="comma-separated method keys (leaderboard, peers)")
    parser.add_argument("--all-methods", action="store_true", help="noisy-mnist: add every other method")
    parser.add_argument("--image-size", type=int, default=None)
    parser.add_argument(
        "--tuned",
        action="store_true",
        help="leaderboard, noisy-mnist: the tuned variants (engine/bench_variants.py) instead of the defaults",
    )
    parser.add_argument(
        "--record",
        action="store_true",
        help="write the recorded tables in benchmarks/results (run_all.sh does); without it they go to "
        "benchmarks/results/unrecorded, so a trial run never replaces a recorded table",
    )
    parser.add_argument(
        "--out", type=Path, default=None, help="the folder for the tables (overrides --record)"
    )
    parser.add_argument(
        "--store",
        choices=["none", "bench", "main"],
        default="none",
        help="none: compute only (nothing recorded); bench: record in benchmarks/results/store; main: the app's store",
    )
    parser.add_argument(
        "--append",
        action="store_true",
        help="leaderboard, noisy-mnist, peers: keep the earlier rows that this invocation does not re-run",
    )
    args = parser.parse_args(list(argv))
    store_root = args.out or RESULTS_DIR  # the bench store stays beside the recorded tables
    if args.out is None:
        args.out = RESULTS_DIR if args.record else UNRECORDED_DIR
    global RECORD_RUNS
    RECORD_RUNS = args.store != "none"
    if args.store == "bench":
        bench_store = store_root / "store"
        bench_store.mkdir(parents=True, exist_ok=True)
        os.environ["WORKBENCH_DB_URL"] = f"sqlite:///{bench_store / 'workbench.db'}"
        os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{bench_store / 'mlflow.db'}"
    start = time.perf_counter()
    rows, markdown = SUITES[suite](args)
    elapsed = time.perf_counter() - start
    scope = " of this invocation (--append kept earlier rows)" if args.append else ""
    markdown += f"\n\nSuite runtime{scope}: {elapsed / 60:.1f} min on {os.cpu_count()} CPU cores ({rows[0].device if rows else '-'})."
    save(suite_name(args) if suite == "noisy-mnist" else suite, rows, markdown, args.out)
    if args.out == UNRECORDED_DIR:
        print(
            f"tables written to {args.out} (not the recorded ones: pass --record for those)", file=sys.stderr
        )
    return 0
