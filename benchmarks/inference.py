"""Predict throughput of PaDiM and PatchCore on a CPU: the method's own `predict` (PyTorch eager), its graph
exported by `engine export` run by onnxruntime and by OpenVINO, and anomalib's PaDiM / PatchCore on the same
backbone weights, eager and through anomalib's own ONNX export. The goal it checks: padim >= 100 images/s on
2 cores.

    python benchmarks/inference.py [--dataset mvtec_3d_ad/tire] [--train 64] [--images 256] [--threads 2]

Both methods are fitted at the `cpu` preset (efficientnet_lite0 ImageNet weights, 224 px input) on --train
training images of --dataset (a shared dataset or an MVTec-layout folder), loaded at 224 px; --images test
images (repeated as needed) are then scored in batches of --batch, after one batch of warm-up, with --threads
threads for every runtime. anomalib runs in the peers virtualenv (`bash benchmarks/setup_peers.sh` makes
`.venv-peers`), in a process of its own; without it its columns stay empty with a note. A Markdown table is
printed and written to --out (default `benchmarks/results/inference.md`).
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # timm must never reach for the network

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

PROJECT_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_ROOT))

from engine.data import load_folder  # noqa: E402
from engine.data.loaders import make_loader  # noqa: E402
from engine.methods import get_method  # noqa: E402
from engine.methods.params import make_params  # noqa: E402
from engine.model_export.graph import export_onnx, export_openvino  # noqa: E402
from engine.model_export.runtimes import onnx_scorer, openvino_scorer  # noqa: E402

SHARED_DATASETS = (PROJECT_ROOT / ".." / "shared" / "datasets").resolve()
PEERS_PYTHON = PROJECT_ROOT / ".venv-peers" / "bin" / "python"
METHODS = ("padim", "patchcore")
SIZE = 224
GOAL = ("padim", 100.0)  # images/s on 2 cores
COLUMNS = ("PyTorch eager", "ONNX Runtime", "OpenVINO", "anomalib eager", "anomalib ONNX")


def images_per_second(score: Callable[[np.ndarray], object], images: np.ndarray, batch: int) -> float:
    """Images scored per second over `images` in batches of `batch`, after one untimed batch."""
    score(images[:batch])
    start = time.perf_counter()
    for i in range(0, len(images), batch):
        score(images[i : i + batch])
    return len(images) / (time.perf_counter() - start)


def dataset_folder(name: str) -> Path:
    for candidate in (SHARED_DATASETS / name, Path(name)):
        if (candidate / "train" / "good").is_dir() and (candidate / "test").is_dir():
            return candidate.resolve()
    raise SystemExit(
        f"error: dataset {name!r} is not an MVTec-layout folder under {SHARED_DATASETS} or a path"
    )


def test_batch(test: torch.Tensor, n: int) -> np.ndarray:
    """`n` test images (N, C, 224, 224) float32, the test split repeated as needed."""
    repeats = -(-n // len(test))
    return test.repeat(repeats, 1, 1, 1)[:n].numpy()


def ours(key: str, train: torch.Tensor, images: np.ndarray, args: argparse.Namespace) -> dict[str, float]:
    """Throughput of our method: eager, and its exported graph in onnxruntime and OpenVINO."""
    cls = get_method(key)
    method = cls(make_params(cls, "cpu"), tuple(train.shape[1:]), seed=0)
    method.fit(make_loader(train, batch_size=32))
    out = {COLUMNS[0]: images_per_second(lambda b: method.predict(torch.from_numpy(b)), images, args.batch)}
    with tempfile.TemporaryDirectory(prefix="inference-bench-") as tmp:
        graph = export_onnx(method, tuple(train.shape[1:]), Path(tmp) / "graph.onnx")
        out[COLUMNS[1]] = images_per_second(onnx_scorer(graph, args.threads), images, args.batch)
        ir = export_openvino(graph, Path(tmp) / "graph.xml")
        out[COLUMNS[2]] = images_per_second(openvino_scorer(ir, args.threads), images, args.batch)
    return out


def anomalib_columns(key: str, args: argparse.Namespace) -> tuple[dict[str, float], str]:
    """anomalib's throughput from the peers virtualenv, or none and why."""
    if not PEERS_PYTHON.exists():
        return {}, "no .venv-peers (make it with `bash benchmarks/setup_peers.sh`)"
    command = [str(PEERS_PYTHON), __file__, "--anomalib-worker", key, "--dataset", str(args.dataset)]
    command += ["--train", str(args.train), "--images", str(args.images), "--batch", str(args.batch)]
    command += ["--threads", str(args.threads)]
    done = subprocess.run(command, capture_output=True, text=True, cwd=PROJECT_ROOT)
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        return {}, f"anomalib failed: {(done.stderr.strip().splitlines() or ['no output'])[-1][:200]}"
    result = json.loads(lines[-1])
    return result["columns"], "; ".join(result["notes"])


def anomalib_worker(key: str, args: argparse.Namespace) -> int:
    """In .venv-peers: fit anomalib's model with our weights (benchmarks/peer_libs/anomalib_peer.py), time it
    eager and through its ONNX export; print one JSON line."""
    import lightning
    from anomalib.data import Folder
    from anomalib.engine import Engine

    from benchmarks.peer_libs.anomalib_peer import anomalib_model
    from benchmarks.peer_libs.folders import scan_folder, stage_for_anomalib
    from benchmarks.peer_libs.settings import PRESETS

    # Setting torch's thread count at all (even to the default) makes torch 2.14.1's batched `linalg.inv` fail
    # on CPU in anomalib's PaDiM fit ("Pivots given to lu_solve must all be greater or equal to 1"), so only
    # a count that differs from the default is set.
    if torch.get_num_threads() != args.threads:
        torch.set_num_threads(args.threads)
    settings = PRESETS["cpu"]
    data = scan_folder(dataset_folder(args.dataset), settings, seed=0)
    data.train = data.train[: args.train]
    notes: list[str] = []
    columns: dict[str, float] = {}
    lightning.seed_everything(0, verbose=False)
    with tempfile.TemporaryDirectory(prefix="inference-anomalib-") as tmp:
        dirs = stage_for_anomalib(data, Path(tmp) / "data")
        datamodule = Folder(name=data.name, train_batch_size=32, eval_batch_size=32, num_workers=0, **dirs)
        model, model_notes = anomalib_model(key, SIZE, SIZE, settings, 32)
        notes += model_notes
        engine = Engine(accelerator="cpu", devices=1, max_epochs=1, logger=False, default_root_dir=Path(tmp) / "e",
                        enable_progress_bar=False, enable_model_summary=False, limit_val_batches=0)  # fmt: skip
        engine.fit(model=model, datamodule=datamodule)
        model.eval()
        loaded = load_folder(dataset_folder(args.dataset), SIZE)
        images = test_batch(loaded.test.images.expand(-1, 3, -1, -1), args.images)
        with torch.no_grad():
            columns[COLUMNS[3]] = images_per_second(lambda b: model(torch.from_numpy(b)), images, args.batch)
        try:
            import onnxruntime as ort

            # anomalib's default export leaves the batch axis dynamic, but its models' forward specialises it
            # to the example batch (2) under dynamo; a graph of the timed batch size is the fair comparison.
            path = model.to_onnx(
                Path(tmp) / "onnx",
                model_file_name="model",
                input_size=(SIZE, SIZE),
                dynamic_shapes=({0: args.batch},),
            )
            options = ort.SessionOptions()
            options.intra_op_num_threads, options.inter_op_num_threads = args.threads, 1
            session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
            name = session.get_inputs()[0].name
            columns[COLUMNS[4]] = images_per_second(
                lambda b: session.run(None, {name: b}), images, args.batch
            )
        except (
            Exception
        ) as exc:  # anomalib's export API moves between versions: say so, keep the eager figure
            notes.append(f"anomalib ONNX export failed: {type(exc).__name__}: {str(exc)[:150]}")
    print(json.dumps({"columns": columns, "notes": notes}))
    return 0


def table(rows: dict[str, dict[str, float]], notes: list[str], args: argparse.Namespace) -> str:
    def cell(value: float | None) -> str:
        return "-" if value is None else f"{value:.1f}"

    lines = [
        f"Predict throughput, images/s: batch {args.batch}, {SIZE} px input, {args.threads} threads, "
        f"{args.images} test images of {Path(str(args.dataset)).name} after fitting on {args.train} "
        f"(`cpu` preset); {platform.processor() or platform.machine()}, torch {torch.__version__}.",
        "",
        "| method | " + " | ".join(COLUMNS) + " |",
        "|---|" + "---:|" * len(COLUMNS),
    ]
    lines += [
        f"| {key} | " + " | ".join(cell(row.get(c)) for c in COLUMNS) + " |" for key, row in rows.items()
    ]
    key, goal = GOAL
    if key in rows:
        best = max(rows[key].get(c) or 0.0 for c in COLUMNS[:3])
        verdict = "met" if best >= goal else "not met"
        lines += [
            "",
            f"Goal: {key} >= {goal:.0f} images/s on {args.threads} cores: {verdict} ({best:.1f} at best).",
        ]
    return "\n".join(lines + [f"- {note}" for note in notes]) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--dataset", default="mvtec_3d_ad/tire", help="a shared dataset or an MVTec-layout folder"
    )
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--train", type=int, default=64, help="training images to fit on")
    parser.add_argument("--images", type=int, default=256, help="test images to time")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default=str(PROJECT_ROOT / "benchmarks" / "results" / "inference.md"))
    parser.add_argument("--anomalib-worker", metavar="METHOD", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.anomalib_worker:
        return anomalib_worker(args.anomalib_worker, args)
    torch.set_num_threads(args.threads)

    data = load_folder(dataset_folder(args.dataset), SIZE)
    train = data.train.images[: args.train]
    images = test_batch(data.test.images, args.images)
    rows, notes = {}, []
    for key in [k.strip() for k in args.methods.split(",") if k.strip()]:
        rows[key] = ours(key, train, images, args)
        peer, note = anomalib_columns(key, args)
        rows[key].update(peer)
        if note:
            notes.append(f"{key}, anomalib: {note}")
    text = table(rows, notes, args)
    print(text)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
