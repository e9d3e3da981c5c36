"""`python -m engine`: methods, datasets, import, runs, train, predict, sweep, ensemble, migrate, worker, bench."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

from db.schema import StoreError


def _parse_sets(pairs: list[str]) -> tuple[tuple[str, str], ...]:
    out = []
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"--set expects key=value, got {pair!r}")
        out.append((key.strip(), value.strip()))
    return tuple(out)


def cmd_methods(args: argparse.Namespace) -> int:
    from engine.methods import METHODS

    for key in METHODS:
        print(key)
    return 0


def cmd_datasets(args: argparse.Namespace) -> int:
    from engine.data import known_datasets

    for name in known_datasets():
        print(name)
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from engine.data import import_dataset

    report = import_dataset(Path(args.path), args.name)
    total = sum(report.counts.values())
    print(f"imported {total} images into {report.name!r} at {report.root}")
    for (split, defect), n in sorted(report.counts.items()):
        print(f"  {split}/{defect}: {n}")
    for name, reason in report.skipped:
        print(f"  skipped {name}: {reason}")
    for name, first in report.duplicates:
        print(f"  duplicate {name} (same content as {first}); skipped")
    return 0


def cmd_runs(args: argparse.Namespace) -> int:
    from db import store
    from engine.recovery import recover_abandoned

    recover_abandoned()  # runs whose process was killed show FAILED, not RUNNING forever

    runs = store.list_runs(dataset_name=args.dataset, method=args.method)
    if args.json:
        print(json.dumps([_run_row(r) for r in runs]))
        return 0
    print(
        f"{'id':>4}  {'method':<15} {'dataset':<22} {'preset':<6} {'status':<9} {'AUROC':>6} {'pixAUROC':>8} {'fit s':>7}"
    )
    for r in runs:
        print(
            f"{r.id:>4}  {r.method:<15} {r.dataset_name[:22]:<22} {r.preset:<6} {r.status:<9} "
            f"{_fmt(r.image_auroc):>6} {_fmt(r.pixel_auroc):>8} {_fmt(r.fit_seconds, 1):>7}"
        )
    return 0


def _fmt(value: float | None, digits: int = 3) -> str:
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

    from engine.recovery import exit_on_sigterm, recover_abandoned
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

    previous = signal.signal(signal.SIGTERM, exit_on_sigterm)  # the run ends FAILED, not RUNNING forever
    try:
        result = train_and_evaluate(config, progress=on_progress)
    finally:
        signal.signal(signal.SIGTERM, previous)
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
    from engine import ensemble

    if bool(args.runs) == bool(args.dataset):
        raise ValueError("give either --runs (run numbers) or --dataset (its latest run of each method)")
    if args.runs and not all(part.isdigit() for part in _csv(args.runs)):
        raise ValueError(f"--runs expects comma-separated run numbers, e.g. 3,7; got {args.runs!r}")
    run_ids = [int(i) for i in _csv(args.runs)] if args.runs else ensemble.latest_members(args.dataset)
    run_id, combined = ensemble.record(run_ids, args.rule, author=args.user)
    m = combined.metrics
    print(f"run #{run_id}: ensemble ({args.rule}) of {', '.join(x.label for x in combined.members)}")
    for label, value in m["member_image_auroc"].items():
        print(f"  {label}: image AUROC {_fmt(value)}")
    gain = ensemble.gain_text(m)
    print(
        f"  ensemble: image AUROC {_fmt(m.get('image_auroc'))}, pixel AUROC {_fmt(m.get('pixel_auroc'))}"
        + (f", {gain}" if gain else "")
    )
    if args.json:
        print(json.dumps({"run_id": run_id, **{k: v for k, v in m.items() if k != "roc"}}, default=float))
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    from db import schema, store
    from engine import config, mlflow_store
    from engine.data.leftovers import tidy_data_dir

    revision = store.migrate()
    print(f"results store: {schema.describe(config.db_url())} at schema revision {revision}")
    print("\n".join([f"data directory: {config.data_dir()}", *(f"  {line}" for line in tidy_data_dir())]))
    mlflow_store.client().search_experiments(max_results=1)
    print(f"MLflow store: {mlflow_store.public_uri(config.mlflow_uri())} ready")  # never its password
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from engine.executors import EXECUTORS

    kind = args.executor or os.environ.get("WORKBENCH_EXECUTOR", "local")
    if kind not in EXECUTORS:
        raise ValueError(f"unknown WORKBENCH_EXECUTOR {kind!r}; choose from {list(EXECUTORS)}")
    if kind == "ray":
        from engine.executors.ray_dispatch import run_dispatcher

        return run_dispatcher(once=args.once, poll_seconds=args.poll)
    from engine import jobs

    return jobs.run_worker(once=args.once, poll_seconds=args.poll)


def cmd_bench(args: argparse.Namespace) -> int:
    from engine import bench

    return bench.main(args.suite, args.rest)


def cmd_predict(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from engine import predict
    from engine.batch_images import list_sources, read_sources
    from engine.saved_model import load_saved_model

    if bool(args.paths) == bool(args.dataset):
        raise ValueError("give image files, a folder or a .zip to score, or --dataset NAME (one of the two)")
    out = Path(args.out) if args.out else predict.default_out(args.run)
    predict.check_out(out)
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # this command shows its own bar
    # an empty batch is refused before the model loads
    sources = list_sources([Path(p) for p in args.paths]) if args.paths else None
    model = load_saved_model(args.run)
    if sources is None:
        items, total = predict.dataset_items(model, args.dataset)
    else:
        items, total = read_sources(sources), len(sources)
    with tqdm(total=total, desc=f"run {args.run} ({model.method_key})", unit="image", file=sys.stderr) as bar:
        summary = predict.score_items(model, items, out, on_done=bar.update)
    if args.json:
        print(json.dumps(summary.as_dict()))
    else:
        print(
            f"scored {summary.n_scored} images with run {args.run} ({summary.n_anomalous} anomalous at threshold "
            f"{summary.threshold:.4g}), {summary.n_failed} could not be read; results in {summary.out}"
        )
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from engine.model_export.run_export import export_run

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    report = export_run(args.run, args.format, Path(args.out), dataset=args.dataset)
    c = report.check
    if args.json:
        print(json.dumps(report.as_dict()))
    else:
        print(f"exported run {args.run} ({report.method}) as {args.format}: {', '.join(report.files)}")
        print(
            f"  checked on {c.images} test images: largest score difference {c.max_score_difference:.2g} "
            f"(relative {c.max_relative_difference:.2g}), image AUROC {_fmt(c.auroc_exported)} (PyTorch "
            f"{_fmt(c.auroc_pytorch)})"
        )
    return 0


def cmd_users(args: argparse.Namespace) -> int:
    from engine import users

    return users.run(args)


def cmd_register(args: argparse.Namespace) -> int:
    from engine.registry import CHAMPION, register_run

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    done = register_run(args.run, args.user)
    print(
        f"run {done.run_id} registered as {done.name} version {done.version} (alias {CHAMPION}) by {done.by}; "
        f"{done.auroc}. Serve it with: mlflow models serve -m models:/{done.name}@{CHAMPION} --env-manager local"
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m engine", description="Anomaly Workbench engine")
    sub = parser.add_subparsers(dest="command", required=True)

    sub.add_parser("methods", help="list method keys").set_defaults(func=cmd_methods)
    sub.add_parser("datasets", help="list built-in and imported datasets").set_defaults(func=cmd_datasets)

    p = sub.add_parser("import", help="import a category folder, a flat folder or a .zip of images")
    p.add_argument("path")
    p.add_argument("--name", required=True)
    p.set_defaults(func=cmd_import)

    p = sub.add_parser("runs", help="list recorded runs")
    p.add_argument("--dataset")
    p.add_argument("--method")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_runs)

    p = sub.add_parser("train", help="train, evaluate and record one method on one dataset")
    p.add_argument("--dataset", required=True, help="built-in name, imported name or MVTec category folder")
    p.add_argument("--method", required=True)
    p.add_argument("--preset", default="cpu", choices=["smoke", "cpu", "paper", "native"])
    p.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="override a method parameter"
    )
    p.add_argument("--image-size", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument(
        "--labeled-anomalies",
        type=int,
        default=0,
        help="give fit() this many test anomalies (left out of evaluation), e.g. for deep_svdd mode=semi",
    )
    p.add_argument("--json", action="store_true", help="print one JSON summary as the last line")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("sweep", help="queue datasets x methods x presets x seeds at once")
    p.add_argument("--datasets", required=True, help="comma-separated dataset names or folders")
    p.add_argument("--methods", required=True, help="comma-separated method keys")
    p.add_argument("--presets", default="cpu", help="comma-separated presets (default cpu)")
    p.add_argument("--seeds", default="0", help="comma-separated seeds (default 0)")
    p.add_argument("--user", default="", help="recorded with each run as who queued it")
    p.add_argument("--executor", choices=["local", "ray"], default=None, help="default: WORKBENCH_EXECUTOR")
    p.add_argument("--wait", action="store_true", help="return when every job has ended; 1 if any failed")
    p.set_defaults(func=cmd_sweep)

    p = sub.add_parser("ensemble", help="combine saved runs of one dataset into one recorded run")
    p.add_argument("--runs", help="comma-separated run numbers (at least two, one dataset)")
    p.add_argument("--dataset", help="instead of --runs: the latest finished run of each method on it")
    p.add_argument("--rule", default="max_margin", help="max_margin (default), mean or rank_mean")
    p.add_argument("--user", default="", help="recorded as who made it")
    p.add_argument("--json", action="store_true", help="print one JSON summary as the last line")
    p.set_defaults(func=cmd_ensemble)

    p = sub.add_parser("migrate", help="create or upgrade the results store and the MLflow store")
    p.set_defaults(func=cmd_migrate)

    p = sub.add_parser("worker", help="run queued jobs from the results store (or dispatch them to Ray)")
    p.add_argument("--once", action="store_true", help="exit when the queue is empty")
    p.add_argument("--poll", type=float, default=1.0)
    p.add_argument(
        "--executor",
        choices=["local", "ray"],
        default=None,
        help="local: run the jobs here; ray: the dispatcher that runs each as a task on RAY_ADDRESS "
        "(default: WORKBENCH_EXECUTOR, else local)",
    )
    p.set_defaults(func=cmd_worker)

    p = sub.add_parser("predict", help="score images with a finished run: a CSV and anomaly maps")
    p.add_argument("--run", type=int, required=True, help="the run number (see `runs`)")
    p.add_argument("paths", nargs="*", metavar="PATH", help="image files, folders or .zip archives")
    p.add_argument("--dataset", help="instead of PATH: this dataset's test images (and unlabeled ones)")
    p.add_argument("--out", help="a new folder for predictions.csv and maps/ (default predictions-run<ID>)")
    p.add_argument("--json", action="store_true", help="print one JSON summary as the last line")
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("export", help="write a finished run as an ONNX or OpenVINO graph, checked first")
    p.add_argument("--run", type=int, required=True, help="the run number (see `runs`)")
    p.add_argument("--format", default="onnx", help="onnx (default) or openvino")
    p.add_argument("--out", required=True, help="the file to write: .onnx, or .xml for openvino")
    p.add_argument("--dataset", help="the test images to check it on (default: the run's dataset)")
    p.add_argument("--json", action="store_true", help="print one JSON summary as the last line")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("register", help="register a finished run in MLflow's Model Registry as champion")
    p.add_argument("--run", type=int, required=True, help="the run number (see `runs`)")
    p.add_argument("--user", default="", help="recorded as who registered it (default: the login name)")
    p.set_defaults(func=cmd_register)

    p = sub.add_parser("bench", help="run a benchmark suite")
    p.add_argument("suite")
    p.add_argument("rest", nargs=argparse.REMAINDER)
    p.set_defaults(func=cmd_bench)

    from engine.users import add_parser as add_users_parser  # the dashboard's accounts

    add_users_parser(sub, cmd_users)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, FileNotFoundError, KeyError, TimeoutError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"error: {message}", file=sys.stderr)
        return 2
    except StoreError as exc:  # a store that cannot be opened as it is: the message says what to do
        print(f"error: {exc}", file=sys.stderr)
        return 3
