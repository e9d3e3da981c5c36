"""anomalib's PatchCore and PaDiM at native resolution with anomalib's own tiler, for benchmarks/native.py: run in
the peers virtualenv (`bash benchmarks/setup_peers.sh`), offline, on the backbone weights ours load
(benchmarks/peer_libs/anomalib_peer.py `share_our_weights`), 224 px tiles 112 px apart as our native preset, images not resized.

    .venv-peers/bin/python benchmarks/native_peers.py --datasets deeppcb/pcb --scores DIR --out FILE.csv

anomalib stitches feature maps, not anomaly maps (its tiler untiles the features and the model runs on the
whole image's feature map) and pads each image with zeros to a whole number of strides; it tiles only images at
least a tile large and of one size, so other datasets get a row saying why they were skipped. One row per
(dataset, method) in --out (benchmarks.harness.results.Row columns), per-image scores in --scores for the paired intervals.
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

import argparse  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from collections.abc import Sequence  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

PROJECT_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_ROOT))

from benchmarks.harness.results import Row, write_rows  # noqa: E402
from benchmarks.harness.scores import scores_path, write_scores  # noqa: E402
from benchmarks.peer_libs.anomalib_peer import image_hw, share_our_weights, timm_layers  # noqa: E402
from benchmarks.peer_libs.folders import FolderData, resolve_dataset, scan_folder, stage_for_anomalib  # noqa: E402
from benchmarks.peer_libs.runner import device_name, explain, library_versions  # noqa: E402
from benchmarks.peer_libs.settings import PRESETS  # noqa: E402
from engine.methods.components.backbone import DEFAULT_BACKBONE, IMAGENET_MEAN, IMAGENET_STD  # noqa: E402
from engine.metrics import image_auroc, pixel_auroc  # noqa: E402
from engine.resources import PeakMemory  # noqa: E402

TILE, STRIDE = 224, 112  # our native preset's tiles
PADIM_FEATURES = 100  # our native preset's d
METHODS = ("patchcore", "padim")
IMAGE_BATCH = 4  # images per batch (x 25 tiles each at 640 px)


def why_not_tiled(data: FolderData) -> str | None:
    """Why anomalib's tiler cannot take this dataset as it is (None when it can)."""
    sizes = set()
    for path in [*data.train, *(t.path for t in data.test)]:
        with Image.open(path) as image:
            sizes.add(image.size)
    if len(sizes) > 1:
        return f"images come in {len(sizes)} sizes; anomalib batches (and tiles) images of one size"
    width, height = sizes.pop()
    if min(width, height) < TILE:
        return (
            f"images are {width}x{height} px; anomalib's tiler refuses images smaller than its {TILE} px tile"
        )
    return None


def model_for(method: str) -> tuple[object, str]:
    """anomalib's model on our backbone and weights, ImageNet-normalised, not resized, with its tiler."""
    from anomalib.data.utils.tiler import Tiler
    from anomalib.models import Padim, Patchcore
    from anomalib.pre_processing import PreProcessor
    from torchvision.transforms.v2 import Normalize

    from engine.methods.padim import LAYERS as PADIM_LAYERS
    from engine.methods.patchcore import LAYERS as PATCHCORE_LAYERS

    common = {
        "post_processor": False,
        "evaluator": False,
        "visualizer": False,
        "pre_processor": PreProcessor(transform=Normalize(mean=list(IMAGENET_MEAN), std=list(IMAGENET_STD))),
    }
    if method == "padim":
        layers = timm_layers(DEFAULT_BACKBONE, PADIM_LAYERS)
        model = Padim(
            backbone=DEFAULT_BACKBONE, layers=layers, pre_trained=False, n_features=PADIM_FEATURES, **common
        )
        what = f"layers 1-3, {PADIM_FEATURES} random features"
    else:
        layers = timm_layers(DEFAULT_BACKBONE, PATCHCORE_LAYERS)
        model = Patchcore(backbone=DEFAULT_BACKBONE, layers=layers, pre_trained=False, coreset_sampling_ratio=0.1,
                          num_neighbors=9, **common)  # fmt: skip
        what = "layers 2-3, coreset 0.1"
    model.model.tiler = Tiler(tile_size=TILE, stride=STRIDE)
    note = share_our_weights(model, DEFAULT_BACKBONE)
    return model, f"{note}, {what}, anomalib tiler {TILE} px / stride {STRIDE}, native size"


def run(method: str, data: FolderData, seed: int, device: str, scores: Path) -> Row:
    """Fit and predict with anomalib's Folder datamodule and Engine; a failure becomes a row with its error."""
    import lightning
    from anomalib.data import Folder
    from anomalib.engine import Engine

    tag = f"anomalib {library_versions().get('anomalib') or '?'}"
    print(f"[native-peers] {data.name} / anomalib {method} ...", flush=True)
    try:
        with PeakMemory() as memory, warnings.catch_warnings(), tempfile.TemporaryDirectory() as tmp:
            warnings.simplefilter("ignore")
            lightning.seed_everything(seed, workers=True, verbose=False)
            datamodule = Folder(name=data.name, train_batch_size=IMAGE_BATCH, eval_batch_size=IMAGE_BATCH,
                                num_workers=0, val_split_mode="same_as_test", seed=seed,
                                **stage_for_anomalib(data, Path(tmp) / "data"))  # fmt: skip
            model, note = model_for(method)
            engine = Engine(accelerator="gpu" if device.startswith("cuda") else "cpu", devices=1, max_epochs=1,
                            logger=False, default_root_dir=Path(tmp) / "engine", enable_progress_bar=False,
                            enable_model_summary=False, limit_val_batches=0, deterministic=False)  # fmt: skip
            began = time.perf_counter()
            engine.fit(model=model, datamodule=datamodule)
            fit_seconds = time.perf_counter() - began
            began = time.perf_counter()
            batches = engine.predict(
                model=model, dataloaders=datamodule.test_dataloader(), return_predictions=True
            )
            predict_seconds = time.perf_counter() - began
        names, labels, values, masks, maps = [], [], [], [], []
        for batch in batches or []:
            names += ["/".join(Path(p).parts[-3:]) for p in batch.image_path]
            labels.append(batch.gt_label.detach().cpu().numpy().reshape(-1))
            values.append(batch.pred_score.detach().float().cpu().numpy().reshape(-1))
            if batch.anomaly_map is not None and batch.gt_mask is not None:
                shape = (len(labels[-1]), *image_hw(batch))
                maps.append(batch.anomaly_map.detach().float().cpu().numpy().reshape(shape))
                masks.append(batch.gt_mask.detach().cpu().numpy().reshape(shape))
        y, s = np.concatenate(labels).astype(int), np.concatenate(values)
        write_scores(scores_path(scores, data.name, "anomalib", method), names, y, s)
        pixels = (
            pixel_auroc(np.concatenate(masks), np.concatenate(maps)) if maps and data.has_all_masks else None
        )
        auroc = image_auroc(y, s)
        print(f"[native-peers]   image AUROC {auroc}, pixel AUROC {pixels}", flush=True)
        return Row("native", data.name, "anomalib", method, method, seed, 0, "native", auroc, pixels,
                   round(fit_seconds, 1), round(predict_seconds, 1), round(len(y) / max(predict_seconds, 1e-9), 2),
                   round(memory.peak_mb), device, f"{tag}; {note}"[:300])  # fmt: skip
    except Exception as exc:  # recorded, the suite goes on
        print(f"[native-peers]   {explain(exc)}", flush=True)
        return Row("native", data.name, "anomalib", method, method, seed, 0, "native", None, None, None, None,
                   None, None, device, f"{tag}; {explain(exc)}"[:300])  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", required=True)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--scores", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--smoke", action="store_true", help="at most 16 train and 8 + 8 test images")
    args = parser.parse_args(argv)
    device = device_name(args.device)
    settings = PRESETS["smoke" if args.smoke else "cpu"]
    rows = []
    for name in args.datasets:
        data = scan_folder(resolve_dataset(name), settings, args.seed)
        reason = why_not_tiled(data)
        for method in METHODS:
            if reason is None:
                rows.append(run(method, data, args.seed, device, args.scores))
            else:
                rows.append(Row("native", data.name, "anomalib", method, method, args.seed, 0, "native", None,
                                None, None, None, None, None, device, f"skipped: {reason}"))  # fmt: skip
    write_rows(args.out, rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
