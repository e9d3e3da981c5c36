"""The grid under every suite: each (dataset, seed, variant) of a suite queued as one sweep of jobs (engine.jobs)
and run by the job layer in this process, each read back from its record as a `Row`. A job that fails, or a
configuration refused when queued, is a row with its error, never an abort. The jobs and their runs go to a
throw-away store unless `record` asks for the one the environment names (benchmarks.harness.bench_store)."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from benchmarks.harness.bench_store import throwaway_store
from benchmarks.harness.results import Row
from benchmarks.harness.scores import scores_path, write_scores
from benchmarks.harness.variants import Variant
from db import jobs as db_jobs
from db import runs as db_runs
from db.locations import PROJECT_ROOT
from db.store import Store
from engine import jobs, sweep
from engine.executors import executor_from_config
from engine.holder import Holder
from engine.runconfig import RunConfig

SHARED_DATASETS = (PROJECT_ROOT / ".." / "shared" / "datasets").resolve()
TEXTURES = ["piped/pa_bdp01_tl", "piped/pa_brg01_rl", "piped/pa_flr01_tl", "magnetic_tile/magnetic_tile"]
OBJECTS = ["mvtec_3d_ad/tire"]
ALL_SHARED = TEXTURES + OBJECTS


@dataclass(frozen=True)
class Cell:
    """One run of a suite's grid: the variant, the configuration queued for it, and its job (or why it was
    refused when queued)."""

    suite: str
    variant: Variant
    config: RunConfig
    job_id: int | None = None
    refusal: str | None = None


def queue(suite: str, variant: Variant, config: RunConfig) -> Cell:
    """Queue one configuration as a job (engine.jobs.enqueue checks it first); a refusal is kept, not raised."""
    try:
        return Cell(suite, variant, config, job_id=jobs.enqueue(config))
    except Exception as exc:  # a bad dataset or parameters: its row says why, the suite goes on
        return Cell(suite, variant, config, refusal=str(exc))


def run_here(job_id: int) -> None:
    """Run a queued job in this process, as the worker would (`engine.jobs.run_job`); then wait for it to end,
    in case a worker of a shared store claimed it first."""
    store, holder = Store.at(), Holder()
    job = db_jobs.claim(store, job_id, os.getpid(), holder.name)
    if job is not None:
        jobs.run_job(job, store, holder=holder)
    sweep.wait([job_id], executor_from_config(store), store=store)


def failed_row(cell: Cell, error: str) -> Row:
    dataset = cell.config.dataset
    name = Path(dataset).name if os.sep in dataset else dataset
    return Row(
        cell.suite, name, "ours", cell.variant.method, cell.variant.label, cell.config.seed,
        cell.config.image_size, cell.config.preset, None, None, None, None, None, None, "",
        f"failed: {error}"[:300],
    )  # fmt: skip


def row_of(cell: Cell, scores_dir: Path | None) -> Row:
    """The row of a cell whose job has ended, from its recorded run (its per-image test scores written to
    `scores_dir` when given)."""
    if cell.job_id is None:
        return failed_row(cell, cell.refusal or "not queued")
    store = Store.at()
    job = jobs.get_job(cell.job_id, store)
    run = db_runs.get_run(store, job.run_id) if job is not None and job.run_id is not None else None
    if job is None or job.status != "DONE" or run is None:
        return failed_row(
            cell, (job and job.error) or f"job #{cell.job_id} is {job.status if job else 'gone'}"
        )
    if scores_dir is not None:
        scored = db_runs.get_predictions(store, run.id)
        write_scores(
            scores_path(scores_dir, run.dataset_name, "ours", cell.variant.method),
            [p.image_name for p in scored],
            [p.label for p in scored],
            [p.score for p in scored],
        )
    metrics = run.metrics
    return Row(
        cell.suite,
        run.dataset_name,
        "ours",
        cell.variant.method,
        cell.variant.label,
        cell.config.seed,
        run.image_size,  # the size used (the dataset's default when none was asked for)
        cell.config.preset,
        metrics.get("image_auroc"),
        metrics.get("pixel_auroc"),
        round(run.fit_seconds, 2),
        round(run.predict_seconds, 2),
        round(run.images_per_second, 1),
        round(run.peak_memory_mb),
        run.device or "",
        (run.notes or "").replace("\n", "; ")[:300],
        metrics.get("detection_rate"),
        metrics.get("image_auroc_low"),
        metrics.get("image_auroc_high"),
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
    """Queue every (dataset, seed, variant) as one sweep, run the jobs one after another and return their rows
    in that order; the runs stay recorded only when `record` (in the store the environment names)."""
    with ExitStack() as stack:
        if not record:
            stack.enter_context(throwaway_store())
        cells = [
            queue(
                suite,
                variant,
                RunConfig(
                    dataset=dataset,
                    method=variant.method,
                    preset=preset,
                    overrides=variant.overrides,
                    image_size=variant.image_size or image_size,
                    seed=seed,
                ),
            )
            for dataset in datasets
            for seed in seeds
            for variant in variants
        ]
        rows: list[Row] = []
        for cell in cells:
            start = time.perf_counter()
            if cell.job_id is not None:
                run_here(cell.job_id)
            row = row_of(cell, scores_dir)
            rows.append(row)
            auroc = "-" if row.image_auroc is None else f"{row.image_auroc:.3f}"
            print(
                f"[{len(rows)}/{len(cells)}] {suite} {row.dataset} {cell.variant.label} seed={cell.config.seed}: "
                f"AUROC {auroc} ({time.perf_counter() - start:.0f} s) {row.notes if row.image_auroc is None else ''}",
                flush=True,
            )
    return rows
