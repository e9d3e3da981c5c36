"""`python -m benchmarks SUITE [options]`: run one suite, then write `<suite>.csv` (one row per run) and a Markdown
summary beside it with the suite's runtime: into `benchmarks/results/` (the recorded tables that docs/results.md
shows) only with `--record`, else into `benchmarks/results/unrecorded/`, so a trial at another preset never
replaces a recorded table. The runs are jobs of a throw-away store (benchmarks.harness.grid) unless --store asks
to keep them: `bench` in a separate store under `benchmarks/results/store/`, `main` in the app's own store."""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from contextlib import nullcontext
from pathlib import Path

from benchmarks.harness.bench_store import store_in
from benchmarks.harness.results import save
from benchmarks.harness.suites import SUITES, suite_name
from db.locations import PROJECT_ROOT
from engine.cli import exit_code_of

RESULTS_DIR = PROJECT_ROOT / "benchmarks" / "results"
UNRECORDED_DIR = RESULTS_DIR / "unrecorded"  # trial runs' tables (ignored by git)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        usage="python -m benchmarks SUITE [options]",
        description="Run a benchmark suite and write its tables.",
    )
    parser.add_argument("suite", metavar="SUITE", help=f"one of {sorted(SUITES)}")
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
        help="leaderboard, noisy-mnist: the tuned variants (benchmarks/harness/variants.py) instead of the defaults",
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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the suite; bad input or an unusable store is one line on stderr (exit 2 or 3), as `python -m engine`."""
    args = build_parser().parse_args(sys.argv[1:] if argv is None else list(argv))
    if args.suite not in SUITES:
        print(f"error: unknown suite {args.suite!r}; choose from {sorted(SUITES)}", file=sys.stderr)
        return 2
    return exit_code_of(lambda: run_suite(args))


def run_suite(args: argparse.Namespace) -> int:
    """Run `args.suite` and write its tables where --record / --out say."""
    store_root = args.out or RESULTS_DIR  # the bench store stays beside the recorded tables
    if args.out is None:
        args.out = RESULTS_DIR if args.record else UNRECORDED_DIR
    start = time.perf_counter()
    with store_in(store_root / "store") if args.store == "bench" else nullcontext():
        rows, markdown = SUITES[args.suite](args)
    elapsed = time.perf_counter() - start
    scope = " of this invocation (--append kept earlier rows)" if args.append else ""
    markdown += f"\n\nSuite runtime{scope}: {elapsed / 60:.1f} min on {os.cpu_count()} CPU cores ({rows[0].device if rows else '-'})."
    save(suite_name(args) if args.suite == "noisy-mnist" else args.suite, rows, markdown, args.out)
    if args.out == UNRECORDED_DIR:
        print(
            f"tables written to {args.out} (not the recorded ones: pass --record for those)", file=sys.stderr
        )
    return 0
