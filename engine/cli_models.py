"""`python -m engine` commands that use a finished run as a model: score images (`predict`), write it as an
ONNX or OpenVINO graph (`export`), register it as its dataset's champion (`register`)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from engine.cli_runs import metric_text


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
            f"(relative {c.max_relative_difference:.2g}), image AUROC {metric_text(c.auroc_exported)} (PyTorch "
            f"{metric_text(c.auroc_pytorch)})"
        )
    return 0


def cmd_register(args: argparse.Namespace) -> int:
    from engine.registry import CHAMPION, register_run

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    done = register_run(args.run, args.user)
    print(
        f"run {done.run_id} registered as {done.name} version {done.version} (alias {CHAMPION}) by {done.by}; "
        f"{done.auroc}. Serve it with: mlflow models serve -m models:/{done.name}@{CHAMPION} --env-manager local"
    )
    return 0
