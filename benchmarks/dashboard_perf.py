"""Dashboard performance: every page's first render once the data is cached, and t-SNE of 5,000 points.

Builds a throw-away workbench (results store, MLflow, data dir) holding a synthetic dataset of 1,000 test
images (128 px) and 11 finished runs whose predictions artifacts are synthetic but full size (scores,
embeddings, anomaly maps, reconstructions, attention maps), written through `engine.tracking.RunTracker`.
Then, per page, an AppTest runs the page once (cold: fills the caches, includes t-SNE on Embeddings) and a
second, new AppTest session runs it again (warm: the figure the issue asks for, target < 2 s).

    python benchmarks/dashboard_perf.py                 # defaults: 1,000 test images, 11 runs, 5,000 t-SNE points
    python benchmarks/dashboard_perf.py --test-images 200 --runs 3 --tsne-points 1000   # a quick look

Timings are server-side script runs (what the app controls); the browser adds drawing time on top.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT))

DATASET = "perf"
DEFECTS = ("crack", "hole", "scratch", "stain")
PAGES = {
    "Compare": "dashboard/pages/compare.py",
    "Embeddings": "dashboard/pages/embeddings.py",
    "Inspect": "dashboard/pages/inspect.py",
    "Review": "dashboard/pages/review.py",
    "Datasets": "dashboard/pages/datasets.py",
    "Label": "dashboard/pages/label.py",
    "Train": "dashboard/pages/train.py",
}
PAGE_TARGET_S = 2.0
TSNE_TARGET_S = 10.0


def write_dataset(root: Path, n_test: int, n_train: int, size: int, seed: int = 0) -> Path:
    """An MVTec-layout folder: gradients with noise; defects are bright rectangles with masks."""
    rng = np.random.default_rng(seed)
    ramp = np.add.outer(np.arange(size), np.arange(size)) / (2 * size)

    def normal() -> np.ndarray:
        base = 0.3 + 0.4 * ramp + rng.normal(0, 0.03, (size, size))
        return (np.clip(np.stack([base, base * 0.9, base * 0.8], -1), 0, 1) * 255).astype(np.uint8)

    def save(path: Path, array: np.ndarray) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(array).save(path)

    for i in range(n_train):
        save(root / "train" / "good" / f"{i:04d}.png", normal())
    n_good = n_test * 2 // 5
    for i in range(n_good):
        save(root / "test" / "good" / f"{i:04d}.png", normal())
    for i in range(n_test - n_good):
        kind = DEFECTS[i % len(DEFECTS)]
        image, mask = normal(), np.zeros((size, size), np.uint8)
        h, w = rng.integers(size // 10, size // 4, 2)
        top, left = rng.integers(0, size - max(h, w), 2)
        mask[top : top + h, left : left + w] = 255
        image[mask > 0] = 240
        save(root / "test" / kind / f"{i:04d}.png", image)
        save(root / "ground_truth" / kind / f"{i:04d}_mask.png", mask)
    return root


def smooth_noise(rng: np.random.Generator, n: int, size: int) -> np.ndarray:
    """(n, size, size) float32 low-frequency noise (8x8 noise upsampled)."""
    import torch
    import torch.nn.functional as F

    coarse = torch.from_numpy(rng.random((n, 1, 8, 8), dtype=np.float32))
    return F.interpolate(coarse, size=(size, size), mode="bilinear", align_corners=False)[:, 0].numpy()


def record_run(data, method: str, index: int, dim: int) -> int:
    """One finished run with synthetic but realistic predictions, recorded like a real one."""
    from engine import metrics as M
    from engine.artifacts import RunArrays
    from engine.tracking import RunTracker

    rng = np.random.default_rng(100 + index)
    test = data.test
    labels = test.labels.numpy()
    masks = test.masks.numpy()
    n, size = len(labels), data.image_size
    quality = 0.6 + 0.035 * index  # separations from weak to strong
    scores = rng.normal(0, 1, n) + labels * 3 * quality
    train_scores = rng.normal(0, 1, 128) - 0.5
    direction = rng.normal(size=dim)
    embeddings = rng.normal(size=(n, dim)) + labels[:, None] * direction * quality
    train_embeddings = rng.normal(size=(128, dim))
    maps = (0.3 * smooth_noise(rng, n, size) + masks * quality).astype(np.float32)
    images = test.images.numpy()
    with_recon = index % 2 == 0
    with_attention = index % 3 == 0
    result = M.image_metrics(labels, scores, train_scores).as_dict()
    roc = M.roc_points(labels, scores)
    result |= {
        "auroc_per_defect_type": M.auroc_per_defect_type(labels, scores, test.defect_types),
        "pixel_auroc": M.pixel_auroc(masks[:100], maps[:100]),
        "pro": M.pro_score(masks[:100], maps[:100]),
        "roc": {"fpr": roc.fpr.tolist(), "tpr": roc.tpr.tolist(), "thresholds": roc.thresholds.tolist()},
    }
    tracker = RunTracker(
        dataset=DATASET,
        method=method,
        preset="cpu",
        params={"synthetic": True},
        seed=0,
        image_size=size,
        device="cpu",
    )
    with tracker:
        tracker.finish(
            metrics=result,
            arrays=RunArrays(
                names=test.names,
                labels=labels,
                defect_types=test.defect_types,
                scores=scores,
                scores_normalized=M.normalize_scores(scores, train_scores),
                embeddings=embeddings,
                centroid=train_embeddings.mean(0),
                train_embeddings=train_embeddings,
                train_scores=train_scores,
                anomaly_maps=maps,
                reconstructions=np.clip(images + rng.normal(0, 0.05, images.shape), 0, 1)
                if with_recon
                else None,
                attentions=smooth_noise(rng, n, size) if with_attention else None,
                masks=masks,
            ),
            weights=None,
            notes=["synthetic predictions for the dashboard benchmark"],
            timings={
                "fit_seconds": 60.0 + index,
                "predict_seconds": 5.0,
                "images_per_second": 200.0,
                "peak_memory_mb": 900.0,
            },
        )
    return tracker.run_id


def build_workbench(root: Path, n_test: int, n_runs: int, size: int) -> list[int]:
    from engine.data import load_dataset
    from engine.data.importer import import_dataset
    from engine.methods import METHODS

    write_dataset(root / "source", n_test, n_train=64, size=size)
    import_dataset(root / "source", DATASET)
    data = load_dataset(DATASET, image_size=size)
    methods = sorted(METHODS)
    names = [methods[i] if i < len(methods) else f"method_{i}" for i in range(n_runs)]
    dims = [64, 128, 512, 32]
    return [record_run(data, name, i, dims[i % len(dims)]) for i, name in enumerate(names)]


def time_page(page: str, extra: dict | None = None) -> tuple[float, float, str]:
    """(cold s, warm s, problem) of one page: a first session fills the caches, a new one is timed."""
    from streamlit.testing.v1 import AppTest

    timings, problem = [], ""
    for _ in range(2):
        at = AppTest.from_file(str(PROJECT / page), default_timeout=900)
        for key, value in {"user": "bench", "dataset": DATASET, **(extra or {})}.items():
            at.session_state[key] = value
        start = time.perf_counter()
        at.run()
        timings.append(time.perf_counter() - start)
        if at.exception:
            problem = at.exception[0].message.splitlines()[0][:80]
    return timings[0], timings[1], problem


def time_tsne(n: int, dim: int = 64) -> tuple[float, str]:
    """Seconds for one t-SNE of `n` points in two clusters; openTSNE is imported before the clock starts, as
    it is in the app once the Embeddings page has been opened (the import takes about 1.2 s)."""
    import openTSNE  # noqa: F401

    from dashboard.projection import project_2d

    rng = np.random.default_rng(0)
    points = rng.normal(size=(n, dim)).astype(np.float32)
    points[: n // 3] += 3.0
    start = time.perf_counter()
    _, method = project_2d(points, seed=0)
    return time.perf_counter() - start, method


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--test-images", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=11)
    parser.add_argument("--image-size", type=int, default=128)
    parser.add_argument("--tsne-points", type=int, default=5000)
    parser.add_argument("--pages", nargs="*", default=list(PAGES), choices=list(PAGES))
    parser.add_argument("--workdir", type=Path, default=None, help="kept afterwards when given")
    args = parser.parse_args(argv)

    root = args.workdir or Path(tempfile.mkdtemp(prefix="dashboard-perf-"))
    root.mkdir(parents=True, exist_ok=True)
    os.environ["WORKBENCH_DB_URL"] = f"sqlite:///{root / 'workbench.db'}"
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{root / 'mlruns' / 'mlflow.db'}"
    os.environ["WORKBENCH_DATA_DIR"] = str(root / "data")
    try:
        start = time.perf_counter()
        run_ids = build_workbench(root, args.test_images, args.runs, args.image_size)
        print(
            f"built {len(run_ids)} runs on {args.test_images} test images in {time.perf_counter() - start:.0f} s",
            flush=True,
        )
        print(f"load average (1, 5, 15 min) before timing: {os.getloadavg()}", flush=True)

        rows = []
        for name in args.pages:
            cold, warm, problem = time_page(PAGES[name])
            rows.append((name, cold, warm, problem))
            print(f"  {name}: cold {cold:.2f} s, warm {warm:.2f} s {problem}", flush=True)
        tsne_s, method = time_tsne(args.tsne_points)

        print(
            f"\n{args.runs} runs, {args.test_images} test images at {args.image_size} px; cpu cores: {os.cpu_count()}"
        )
        print("| page | first render, cold caches (s) | first render, data cached (s) | target |")
        print("|---|---:|---:|---|")
        for name, cold, warm, problem in rows:
            verdict = "ok" if warm < PAGE_TARGET_S and not problem else f"MISSED {problem}".strip()
            print(f"| {name} | {cold:.2f} | {warm:.2f} | < {PAGE_TARGET_S:.0f} s: {verdict} |")
        verdict = "ok" if tsne_s < TSNE_TARGET_S else "MISSED"
        print(
            f"| {method} of {args.tsne_points} points (64-D) | {tsne_s:.2f} | | < {TSNE_TARGET_S:.0f} s: {verdict} |"
        )
        print(f"load average after: {os.getloadavg()}")
    finally:
        if args.workdir is None:
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
