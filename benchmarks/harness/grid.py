"""The grid under every suite: one variant trained and evaluated on one dataset and seed (`run_one`), and every
(dataset, seed, variant) of a suite in turn (`run_grid`), each a `Row`. Runs are only computed (`engine.compute`)
unless `record` asks to record them in the store that the environment names."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from benchmarks.harness.results import Row
from benchmarks.harness.scores import scores_path, write_scores
from benchmarks.harness.variants import Variant
from db.locations import PROJECT_ROOT

SHARED_DATASETS = (PROJECT_ROOT / ".." / "shared" / "datasets").resolve()
TEXTURES = ["piped/pa_bdp01_tl", "piped/pa_brg01_rl", "piped/pa_flr01_tl", "magnetic_tile/magnetic_tile"]
OBJECTS = ["mvtec_3d_ad/tire"]
ALL_SHARED = TEXTURES + OBJECTS


def run_one(
    suite: str,
    dataset: str,
    variant: Variant,
    preset: str,
    seed: int,
    image_size: int | None,
    scores_dir: Path | None = None,
    record: bool = False,
) -> Row:
    """Train and evaluate one variant (recorded in a store only when `record`; its per-image test scores
    written to `scores_dir` when given); a failure becomes a row with its error, never an abort."""
    from engine.compute import compute
    from engine.run import open_record
    from engine.run import record as record_outcome
    from engine.run_inputs import load_run_inputs
    from engine.runconfig import RunConfig

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
        inputs = load_run_inputs(config)
        if record:
            with open_record(config, inputs.start, None, None, None) as tracker:
                outcome = compute(config, inputs)
                record_outcome(outcome, tracker)
        else:
            outcome = compute(config, inputs)
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


def find_datasets(names: Sequence[str]) -> list[str]:
    """Each name as a shared dataset folder ("tire" -> mvtec_3d_ad/tire), a path or a built-in; others skipped
    with a message."""
    out = []
    for name in names:
        path = SHARED_DATASETS / name
        nested = sorted(SHARED_DATASETS.glob(f"*/{name}")) if "/" not in name else []
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
    record: bool = False,
) -> list[Row]:
    rows: list[Row] = []
    total = len(datasets) * len(variants) * len(seeds)
    for dataset in datasets:
        for seed in seeds:
            for variant in variants:
                start = time.perf_counter()
                row = run_one(suite, dataset, variant, preset, seed, image_size, scores_dir, record)
                rows.append(row)
                auroc = "-" if row.image_auroc is None else f"{row.image_auroc:.3f}"
                print(
                    f"[{len(rows)}/{total}] {suite} {row.dataset} {variant.label} seed={seed}: "
                    f"AUROC {auroc} ({time.perf_counter() - start:.0f} s) {row.notes if row.image_auroc is None else ''}",
                    flush=True,
                )
    return rows
