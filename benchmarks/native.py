"""Quality and cost at native resolution (issue #27): the feature methods at `--preset native` (every image at its
own size, cut into 224 px tiles, maps stitched back) on DeepPCB (640 x 640, test boards never in training), tire,
magnetic_tile and the three PIPED papers; and, where the peers virtualenv exists, anomalib's PatchCore and PaDiM
with anomalib's own tiler on the same backbone weights, tiles and images, with the paired 95% interval of each
difference (ours minus anomalib, engine.bootstrap).

    python benchmarks/native.py                                  # everything below (hours on 2 CPU cores)
    python benchmarks/native.py --datasets deeppcb/pcb --methods patchcore,padim --device cuda

Per run: image AUROC with its 95% bootstrap interval, pixel AUROC and PRO (at each mask's own resolution), fit and
predict seconds, peak memory (resident or CUDA, whichever is higher). PaDiM runs twice where the images share one
size: `tile_gaussian=shared` (one Gaussian per within-tile position) and `per_tile` (one per tile place too),
both on 208 px strides (a 3 x 3 grid on 640 px) so that per_tile's Gaussians fit in memory; its default
(112 px strides) runs as well. Writes `benchmarks/results/native.csv` (one row per run, the columns of
benchmarks.harness.results.Row), `native.md`, and the per-image scores under `benchmarks/results/native-scores/`.
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # timm must never reach for the network

import argparse  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Sequence  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402

PROJECT_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_ROOT))

from benchmarks.harness.results import Row, write_rows  # noqa: E402
from benchmarks.harness.scores import paired_difference, scores_path, write_scores  # noqa: E402
from engine.bootstrap import span  # noqa: E402

SHARED_DATASETS = (PROJECT_ROOT / ".." / "shared" / "datasets").resolve()
RESULTS = PROJECT_ROOT / "benchmarks" / "results"
PEERS_PYTHON = PROJECT_ROOT / ".venv-peers" / "bin" / "python"
DATASETS = [
    "deeppcb/pcb",
    "mvtec_3d_ad/tire",
    "magnetic_tile/magnetic_tile",
    "piped/pa_bdp01_tl",
    "piped/pa_brg01_rl",
    "piped/pa_flr01_tl",
]
METHODS = ["padim", "patchcore", "cutpaste", "simclr_local"]  # the feature methods, each with a native preset
MIXED_SIZES = {"magnetic_tile/magnetic_tile"}  # PaDiM per_tile needs one image size
PEER_METHODS = ["patchcore", "padim"]
TARGETS = (
    "DeepPCB targets: the best method's image AUROC >= 0.95 and pixel AUROC >= 0.95; peak memory <= 8 GB."
)


@dataclass(frozen=True)
class Variant:
    label: str  # as in the table; also the scores file's method part
    method: str
    overrides: tuple[tuple[str, str], ...] = ()


def variants(dataset: str, methods: Sequence[str]) -> list[Variant]:
    out = []
    for method in methods:
        if method == "padim":  # the coarse 3 x 3 grid first: a third of the tiles, so its rows come soonest
            coarse = (("tile_stride", "208"),)
            out.append(Variant("padim-shared-208", method, coarse))
            if dataset not in MIXED_SIZES:
                out.append(Variant("padim-per_tile-208", method, (*coarse, ("tile_gaussian", "per_tile"))))
        out.append(Variant(method, method))
    return out


def run_ours(dataset: str, variant: Variant, device: str, seed: int, scores: Path, smoke: bool) -> Row:
    """One native run, computed (nothing recorded); a failure becomes a row with its error."""
    from engine.compute import compute
    from engine.run_inputs import load_run_inputs
    from engine.runconfig import RunConfig

    overrides = variant.overrides + ((("weights", "random"), ("batch_size", "8")) if smoke else ())
    root = Path(dataset) if Path(dataset).is_dir() else SHARED_DATASETS / dataset
    config = RunConfig(str(root), variant.method, "native", overrides, seed=seed, device=device)
    name = Path(dataset).name
    print(f"[native] {name} / {variant.label} ...", flush=True)
    try:
        out = compute(config, load_run_inputs(config))
    except Exception as exc:  # the suite goes on
        print(f"[native]   failed: {exc}", flush=True)
        return Row("native", name, "ours", variant.method, variant.label, seed, 0, "native", None, None,
                   None, None, None, None, device, f"failed: {exc}"[:300])  # fmt: skip
    m, t, a = out.metrics, out.timings, out.arrays
    write_scores(scores_path(scores, name, "ours", variant.label), a.names, a.labels, a.scores)
    pro = "" if m.get("pro") is None else f"PRO {m['pro']:.3f}; "
    row = Row(
        "native", name, "ours", variant.method, variant.label, seed, 0, "native",
        _round(m.get("image_auroc")), _round(m.get("pixel_auroc")), round(t["fit_seconds"], 1),
        round(t["predict_seconds"], 1), round(t["images_per_second"], 2), round(t["peak_memory_mb"]),
        out.start.device, (pro + "; ".join(out.notes))[:300], _round(m.get("detection_rate")),
        _round(m.get("image_auroc_low")), _round(m.get("image_auroc_high")),
    )  # fmt: skip
    print(f"[native]   image AUROC {row.image_auroc} ({row.image_auroc_low}-{row.image_auroc_high}), "
          f"pixel {row.pixel_auroc}, {pro}peak {row.peak_memory_mb} MB", flush=True)  # fmt: skip
    return row


def _round(value: float | None) -> float | None:
    return None if value is None else round(float(value), 4)


def run_peers(datasets: Sequence[str], device: str, seed: int, scores: Path, smoke: bool) -> tuple[list, str]:
    """anomalib's rows (from benchmarks/native_peers.py in the peers virtualenv), or none and why."""
    if not PEERS_PYTHON.is_file():
        return [], (
            "anomalib comparison skipped: no peers virtualenv at .venv-peers (`bash benchmarks/setup_peers.sh` "
            "makes it)."
        )
    from benchmarks.harness.results import read_rows, row_from_csv

    out = RESULTS / "native-peers.csv"
    out.unlink(missing_ok=True)
    command = [str(PEERS_PYTHON), str(PROJECT_ROOT / "benchmarks" / "native_peers.py"), "--datasets", *datasets,
               "--device", device, "--seed", str(seed), "--scores", str(scores), "--out", str(out)]  # fmt: skip
    if smoke:
        command.append("--smoke")
    done = subprocess.run(command, cwd=PROJECT_ROOT, check=False)
    if not out.is_file():
        return [], f"anomalib comparison failed (exit code {done.returncode}); see its output above."
    return [row_from_csv(r) for r in read_rows(out)], ""


def differences(rows: Sequence[Row], peer_rows: Sequence[Row], scores: Path) -> list[str]:
    """Markdown lines: our AUROC minus anomalib's per dataset and method, with the paired 95% interval."""
    lines = [
        "| dataset | method | ours | anomalib | difference | 95% paired interval |",
        "|---|---|---|---|---|---|",
    ]
    by_key = {(r.dataset, r.variant): r for r in rows}
    for peer in peer_rows:
        ours = by_key.get((peer.dataset, peer.method))
        if ours is None or ours.image_auroc is None or peer.image_auroc is None:
            continue
        diff = paired_difference(
            scores_path(scores, peer.dataset, "ours", peer.method),
            scores_path(scores, peer.dataset, "anomalib", peer.method),
        )
        interval = "-" if diff is None else span(diff.low, diff.high, signed=True)
        estimate = "-" if diff is None else f"{diff.estimate:+.3f}"
        lines.append(f"| {peer.dataset} | {peer.method} | {ours.image_auroc:.3f} | {peer.image_auroc:.3f} | "
                     f"{estimate} | {interval} |")  # fmt: skip
    return lines


def table(rows: Sequence[Row]) -> list[str]:
    head = ["dataset", "impl", "method", "image AUROC", "95% interval", "pixel AUROC", "PRO", "fit s", "predict s",
            "peak MB", "device"]  # fmt: skip
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        pro = next((p.split(" ")[1] for p in r.notes.split("; ") if p.startswith("PRO ")), "-")
        interval = "-" if r.image_auroc_low is None else span(r.image_auroc_low, r.image_auroc_high)
        cells = [r.dataset, r.impl, r.variant, _f(r.image_auroc), interval, _f(r.pixel_auroc), pro,
                 _f(r.fit_seconds, 1), _f(r.predict_seconds, 1), _f(r.peak_memory_mb, 0), r.device]  # fmt: skip
        if r.image_auroc is None:
            cells[-1] += f" ({r.notes[:120]})"
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _f(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{float(value):.{digits}f}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=DATASETS, help="under ../shared/datasets")
    parser.add_argument("--methods", default=",".join(METHODS), help=f"comma-separated, from {METHODS}")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-peers", action="store_true", help="skip anomalib even where .venv-peers exists")
    parser.add_argument(
        "--smoke", action="store_true", help="random weights, batch 8: checks the script only"
    )
    parser.add_argument("--out", type=Path, default=RESULTS / "native.csv")
    args = parser.parse_args(argv)
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    if unknown := [m for m in methods if m not in METHODS]:
        parser.error(f"unknown methods {unknown}; choose from {METHODS}")
    start = time.perf_counter()
    scores = args.out.parent / f"{args.out.stem}-scores"
    planned = [(d, v) for d in args.datasets for v in variants(d, methods)]
    rows: list[Row] = []
    for done, (dataset, variant) in enumerate(planned, start=1):
        rows.append(run_ours(dataset, variant, args.device, args.seed, scores, args.smoke))
        if done < len(planned):  # the tables so far, so that a stopped suite keeps what it measured
            write_results(args, rows, [], f"{done} of {len(planned)} runs so far.", start)
    peer_rows, peer_note = ([], "anomalib comparison skipped (--no-peers).")
    if not args.no_peers:
        peer_rows, peer_note = run_peers(args.datasets, args.device, args.seed, scores, args.smoke)
    write_results(args, rows, peer_rows, peer_note, start)
    return 0


def write_results(
    args: argparse.Namespace, rows: list[Row], peer_rows: list[Row], note: str, start: float
) -> None:
    """Write the CSV and the Markdown table of the runs so far, with the runtime up to now."""
    scores = args.out.parent / f"{args.out.stem}-scores"
    write_rows(args.out, [*rows, *peer_rows])
    elapsed = time.perf_counter() - start
    runtime = f"Runtime: {elapsed / 60:.1f} min on {os.cpu_count()} CPU cores (device {args.device})."
    parts = [f"### native resolution (preset native, seed {args.seed})", "", *table([*rows, *peer_rows]), "",
             TARGETS, ""]  # fmt: skip
    if peer_rows:
        parts += [
            "#### ours minus anomalib (same weights, tiles and images)",
            "",
            *differences(rows, peer_rows, scores),
            "",
        ]
    parts += [note, "", runtime] if note else [runtime]
    args.out.with_suffix(".md").write_text("\n".join(parts) + "\n")
    print(f"wrote {args.out} and {args.out.with_suffix('.md')}\n{runtime}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
