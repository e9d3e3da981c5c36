"""`python -m engine`: the parser of every command, and the small ones (methods, datasets, import, migrate, worker,
users). Runs' commands are in engine/cli_runs.py, a finished run's as a model in engine/cli_models.py; the
benchmark suites are `python -m benchmarks` (benchmarks/harness/)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path

from db.schema import StoreError
from engine.cli_models import cmd_export, cmd_predict, cmd_register
from engine.cli_runs import cmd_ensemble, cmd_runs, cmd_sweep, cmd_train


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
    from engine.data.importer import import_dataset

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


def cmd_migrate(args: argparse.Namespace) -> int:
    from db import locations, schema
    from db.store import Store
    from engine import mlflow_store
    from engine.data.leftovers import tidy_data_dir

    revision = Store.migrate()
    print(f"results store: {schema.describe(locations.db_url())} at schema revision {revision}")
    print("\n".join([f"data directory: {locations.data_dir()}", *(f"  {line}" for line in tidy_data_dir())]))
    mlflow_store.client().search_experiments(max_results=1)
    print(f"MLflow store: {mlflow_store.public_uri(locations.mlflow_uri())} ready")  # never its password
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
    from engine.executors.local import lower_priority

    lower_priority(args.nice)
    return jobs.run_worker(once=args.once, poll_seconds=args.poll)


def cmd_users(args: argparse.Namespace) -> int:
    from engine import users

    return users.run(args)


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
    p.add_argument(
        "--nice",
        type=int,
        default=None,
        help="a local worker's CPU priority: the Unix niceness it adds to itself, so that the dashboard's pages "
        "stay quick while jobs train on the same machine (default: WORKBENCH_WORKER_NICE, else 10; 0 keeps it)",
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

    from engine.users import add_parser as add_users_parser  # the dashboard's accounts

    add_users_parser(sub, cmd_users)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return exit_code_of(lambda: args.func(args))


def exit_code_of(command: Callable[[], int]) -> int:
    """Run `command`, turning a refusal into one `error:` line on stderr: exit 2 for bad input, 3 for a store
    that cannot be opened as it is."""
    try:
        return command()
    except (ValueError, FileNotFoundError, KeyError, TimeoutError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"error: {message}", file=sys.stderr)
        return 2
    except StoreError as exc:  # a store that cannot be opened as it is: the message says what to do
        print(f"error: {exc}", file=sys.stderr)
        return 3
