"""The normal reference of a run: training images scored in sample (`predict`) against left out of the fitted
Gaussian (`predict_training`, engine/methods/components/gaussian.py `leave_one_out`), beside the normal test
images. A threshold at the 95% quantile of the training scores should flag about 5% of new normal images; in
sample it flags nearly all of them. One run per method at the `cpu` preset, the same fit for both columns.

    python benchmarks/training_scores.py [--dataset mvtec_3d_ad/tire] [--methods padim,cutpaste]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT))
SHARED = PROJECT.parent / "shared" / "datasets"


def study(folder: Path, method_key: str) -> list[str]:
    """Fit `method_key` once on `folder`; one table row per way of scoring the training images."""
    import numpy as np
    import torch

    from engine import metrics as M
    from engine.compute import epoch_repeats
    from engine.config import pick_device
    from engine.data import load_dataset
    from engine.data.loaders import make_loader
    from engine.run_inputs import train_sample
    from engine.runconfig import RunConfig, batch_size, preflight

    cls, p = preflight(RunConfig(dataset=str(folder), method=method_key, preset="cpu"), None)
    data = load_dataset(str(folder), seed=0)
    torch.manual_seed(0)
    method = cls(p, (data.channels, data.image_size, data.image_size), pick_device("cpu"), 0)
    repeats = epoch_repeats(p, "cpu", len(data.train))
    method.fit(
        make_loader(data.train.images, batch_size(p), shuffle=True, seed=0, repeats=repeats), None, None
    )
    test = method.predict_loader(make_loader(data.test.images, batch_size(p))).score.numpy()
    labels = data.test.labels.numpy()
    normal = test[labels == 0]
    train_loader = make_loader(train_sample(data, 0), batch_size(p))
    rows = []
    for label, training in (("in sample", False), ("left out", True)):
        train = method.predict_loader(train_loader, training=training).score.numpy()
        flagged = float(np.mean(normal > np.quantile(train, M.DETECTION_QUANTILE)))
        rows.append(
            f"| {method_key} | {label} | {np.median(train):.1f} | {np.median(normal):.1f} | {flagged:.0%} | "
            f"{M.detection_rate(labels, test, train):.3f} | {M.image_auroc(labels, test):.3f} |"
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--dataset", default="mvtec_3d_ad/tire", help="a folder under ../shared/datasets or a path"
    )
    parser.add_argument("--methods", default="padim,cutpaste")
    parser.add_argument("--out", type=Path, default=PROJECT / "benchmarks" / "results" / "training-scores.md")
    args = parser.parse_args(argv)
    folder = SHARED / args.dataset if (SHARED / args.dataset).is_dir() else Path(args.dataset)
    if not folder.is_dir():
        raise SystemExit(f"no dataset folder {folder}: pass --dataset PATH (an MVTec-layout category)")
    started = time.perf_counter()
    lines = [
        f"### training-scores ({folder.name}; cpu preset, seed 0)",
        "",
        "| method | training images scored | training median | normal test median | normal test images "
        "above the training 95% quantile | detection rate | image AUROC |",
        "|---|---|---|---|---|---|---|",
    ]
    for key in args.methods.split(","):
        lines += study(folder, key)
        print(lines[-1], flush=True)
    lines += ["", f"Runtime: {(time.perf_counter() - started) / 60:.1f} min on 2 CPU cores (fits included)."]
    args.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
