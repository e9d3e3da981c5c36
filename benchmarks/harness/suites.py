"""The suites of `python -m benchmarks SUITE`: each seed's protocol (noisy-mnist, textures, objects), the
leaderboard of every method, and our methods against the peer libraries. Each takes the parsed options and
returns its rows and its Markdown table."""

from __future__ import annotations

import argparse
import subprocess
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from benchmarks.harness.grid import ALL_SHARED, OBJECTS, TEXTURES, find_datasets, run_grid
from benchmarks.harness.results import (
    PEER_PAIRS,
    Row,
    compare_with_peers,
    leaderboard_table,
    merge_earlier,
    read_rows,
    row_from_csv,
    summary_table,
    write_rows,
)
from benchmarks.harness.variants import (
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
from db.locations import PROJECT_ROOT


def grid(
    args: argparse.Namespace,
    suite: str,
    datasets: Sequence[str],
    variants: Sequence[Variant],
    scores_dir: Path | None = None,
) -> list[Row]:
    """`run_grid` at the options' preset, seeds and image size; the runs stay recorded unless --store none."""
    return run_grid(
        suite,
        datasets,
        variants,
        args.preset,
        args.seeds,
        args.image_size,
        scores_dir,
        record=args.store != "none",
    )


def suite_name(args: argparse.Namespace) -> str:
    """noisy-mnist's results file: its tuned variants keep their own table."""
    return "noisy-mnist-tuned" if args.tuned else "noisy-mnist"


def suite_noisy_mnist(args: argparse.Namespace) -> tuple[list[Row], str]:
    digits = [int(d) for d in args.digits.split(",")]
    variants = (NOISY_MNIST_TUNED if args.tuned else NOISY_MNIST_VARIANTS) + (
        [v for v in all_variants() if v.method not in {"vae", "anogan", "vaegan"}] if args.all_methods else []
    )
    rows = grid(args, "noisy-mnist", [f"mnist-noisy:{d}" for d in digits], variants)
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
    rows = grid(args, "textures", find_datasets(args.datasets or TEXTURES), TEXTURE_VARIANTS)
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
    rows = grid(args, "objects", find_datasets(args.datasets or OBJECTS), OBJECT_VARIANTS)
    md = f"### objects (seed 004 comparison; preset {args.preset})\n\n" + summary_table(
        rows, "dataset", PAPER_OBJECTS
    )
    return rows, md


def suite_leaderboard(args: argparse.Namespace) -> tuple[list[Row], str]:
    variants = TUNED_VARIANTS if args.tuned else all_variants()
    if args.methods:
        variants = [v for v in variants if v.method in args.methods.split(",")]
    rows = grid(args, "leaderboard", find_datasets(args.datasets or ALL_SHARED), variants)
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
    from engine.methods.params import make_params

    python = PROJECT_ROOT / ".venv-peers" / "bin" / "python"
    if not python.exists():
        raise SystemExit("peer libraries are not installed: run `bash benchmarks/setup_peers.sh` first")
    datasets = find_datasets(args.datasets or ALL_SHARED)
    methods = sorted(set(PEER_PAIRS.values()))
    if args.methods:
        methods = [m for m in methods if m in args.methods.split(",")]
    peer_methods = [p for p, ours in PEER_PAIRS.items() if ours in methods]
    scores_dir = args.out / "peer-scores"  # per-image scores of both sides, for the paired comparison
    rows = grid(args, "peers", datasets, [Variant(m, m) for m in methods], scores_dir)
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
