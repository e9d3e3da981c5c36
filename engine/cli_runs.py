"""`python -m engine` commands about runs: train one, list them, queue a sweep, combine saved runs into an
ensemble."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def _parse_sets(pairs: list[str]) -> tuple[tuple[str, str], ...]:
    out = []
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"--set expects key=value, got {pair!r}")
        out.append((key.strip(), value.strip()))
    return tuple(out)


def cmd_runs(args: argparse.Namespace) -> int:
    from db import runs as db_runs
    from db.store import Store
    from engine.recovery import recover_abandoned

    recover_abandoned()  # runs whose process was killed show FAILED, not RUNNING forever

    runs = db_runs.list_runs(Store.at(), dataset_name=args.dataset, method=args.method)
    if args.json:
        print(json.dumps([_run_row(r) for r in runs]))
        return 0
    print(
        f"{'id':>4}  {'method':<15} {'dataset':<22} {'preset':<6} {'status':<9} {'AUROC':>6} {'pixAUROC':>8} {'fit s':>7}"
    )
    for r in runs:
        print(
            f"{r.id:>4}  {r.method:<15} {r.dataset_name[:22]:<22} {r.preset:<6} {r.status:<9} "
            f"{metric_text(r.image_auroc):>6} {metric_text(r.pixel_auroc):>8} {metric_text(r.fit_seconds, 1):>7}"
        )
    return 0


def metric_text(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _run_row(r: Any) -> dict[str, Any]:
    return {
        "run_id": r.id,
        "method": r.method,
        "dataset": r.dataset_name,
        "preset": r.preset,
        "status": r.status,
        "image_auroc": r.image_auroc,
        "pixel_auroc": r.pixel_auroc,
        "fit_seconds": r.fit_seconds,
        "error": r.error,
    }


def cmd_train(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from engine.holder import Holder
    from engine.recovery import recover_abandoned
    from engine.run import train_and_evaluate
    from engine.runconfig import Progress, RunConfig

    recover_abandoned()

    config = RunConfig(
        dataset=args.dataset,
        method=args.method,
        preset=args.preset,
        overrides=_parse_sets(args.set),
        image_size=args.image_size,
        seed=args.seed,
        device=args.device,
        n_labeled_anomalies=args.labeled_anomalies,
    )
    bar = tqdm(
        total=100,
        desc=f"{args.method} on {args.dataset}",
        unit="%",
        file=sys.stderr,
        bar_format="{desc}: {percentage:3.0f}%|{bar}| {elapsed}<{remaining} {postfix}",
    )

    def on_progress(p: Progress) -> None:
        bar.n = round(p.fraction * 100)
        post = p.phase
        if p.epoch is not None:
            post += f" epoch {p.epoch}/{p.epochs}"
        if p.losses:
            post += " " + " ".join(f"{k}={v:.4g}" for k, v in list(p.losses.items())[:3])
        bar.set_postfix_str(post)

    holder = Holder()
    try:
        with holder.exiting_on_sigterm():  # the run ends FAILED, not RUNNING forever
            result = train_and_evaluate(config, progress=on_progress, holder=holder)
    finally:
        bar.close()
    summary = result.summary()
    if args.json:
        print(json.dumps(summary))
    else:
        for key, value in summary.items():
            print(f"{key:>18}: {value}")
    return 0


def _csv(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def cmd_sweep(args: argparse.Namespace) -> int:
    from collections import Counter

    from engine import sweep
    from engine.executors import executor_from_config

    seeds = [int(s) for s in _csv(args.seeds)]
    configs = sweep.grid(_csv(args.datasets), _csv(args.methods), _csv(args.presets), seeds, user=args.user)
    executor = executor_from_config(kind=args.executor)  # a refused executor queues nothing
    ids = sweep.enqueue_sweep(configs)
    print(f"queued {len(ids)} jobs: #{ids[0]}..#{ids[-1]}" if ids else "nothing to queue")
    executor.ensure_running()  # a worker or Ray dispatcher of its own: the jobs outlive this command
    if not ids or not args.wait:
        return 0

    def show(statuses: dict[int, str]) -> None:
        counts = Counter(statuses.values())
        print("  " + ", ".join(f"{n} {status}" for status, n in sorted(counts.items())), file=sys.stderr)

    final = sweep.wait(ids, executor, on_change=show)
    failed = [i for i, status in final.items() if status != "DONE"]
    for job_id in failed:
        job = jobs_view(job_id)
        print(f"job #{job_id} {job}", file=sys.stderr)
    return 1 if failed else 0


def jobs_view(job_id: int) -> str:
    from engine import jobs

    view = jobs.get_job(job_id)
    if view is None:
        return "is gone"
    first = (view.error or "").strip().splitlines()[:1]
    return f"{view.status}: {view.method} on {view.dataset}" + (f": {first[0]}" if first else "")


def cmd_ensemble(args: argparse.Namespace) -> int:
    from engine.ensemble import gain_text
    from engine.ensemble_runs import latest_members, record

    if bool(args.runs) == bool(args.dataset):
        raise ValueError("give either --runs (run numbers) or --dataset (its latest run of each method)")
    if args.runs and not all(part.isdigit() for part in _csv(args.runs)):
        raise ValueError(f"--runs expects comma-separated run numbers, e.g. 3,7; got {args.runs!r}")
    run_ids = [int(i) for i in _csv(args.runs)] if args.runs else latest_members(args.dataset)
    run_id, combined = record(run_ids, args.rule, author=args.user)
    m = combined.metrics
    print(f"run #{run_id}: ensemble ({args.rule}) of {', '.join(x.label for x in combined.members)}")
    for label, value in m["member_image_auroc"].items():
        print(f"  {label}: image AUROC {metric_text(value)}")
    gain = gain_text(m)
    print(
        f"  ensemble: image AUROC {metric_text(m.get('image_auroc'))}, pixel AUROC {metric_text(m.get('pixel_auroc'))}"
        + (f", {gain}" if gain else "")
    )
    if args.json:
        print(json.dumps({"run_id": run_id, **{k: v for k, v in m.items() if k != "roc"}}, default=float))
    return 0
