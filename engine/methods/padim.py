"""PaDiM (Defard et al., ICPR 2020, https://arxiv.org/abs/2011.08785): one Gaussian per feature-map position of
CNN features (layers at strides 4, 8, 16, locally averaged, optionally a random channel subset); anomaly map =
Mahalanobis distance, score = its max.

On tiles (the native preset), a position is a place within a tile, and `tile_gaussian` says whose Gaussian it is:
"shared" fits one Gaussian per within-tile position on the tiles of every grid place (tiles are images to it;
any image size, and the position model loosens to "this far from a tile's corner"), "per_tile" one per grid place
and within-tile position (the full image's positions, as PaDiM on the whole image; images of one size only,
memory times the tiles per image)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import DataLoader

from engine.config import DeviceInfo
from engine.methods.base import BaseMethod, embedding_centroid
from engine.methods.components.backbone import (
    DEFAULT_BACKBONE,
    BackboneName,
    layer_channels,
    resize_input,
    split_layers,
)
from engine.methods.components.gaussian import (
    RunningMoments,
    leave_one_out,
    mahalanobis,
    regularized_precision,
    upsample_blur,
)
from engine.methods.components.tiling import TileBatches
from engine.methods.params import check_choices, knob
from engine.methods.prediction import Prediction
from engine.methods.progress import EpochLog, OnEpoch

LAYERS = ("layer1", "layer2", "layer3")
PER_TILE_SLOTS = 9  # tiles per image the memory estimate assumes for per_tile (a 3 x 3 grid)


PAPER_D = {"resnet18": 100, "wide_resnet50_2": 550}  # channels kept in the paper; other backbones keep all


@dataclass(frozen=True)
class Params:
    backbone: BackboneName = knob(DEFAULT_BACKBONE, "a timm name from components/backbone.py BACKBONES")
    weights: str = knob("auto", '"auto" / "imagenet", "random" or a weights file (components/backbone.py)')
    d: int = knob(
        0,
        "channels kept by random selection; 0 = the paper's 100 / 550 for ResNets, all (176) for lite0",
        range=(0, 8192),
    )
    pool: int = knob(3, "local average (px of the first layer's map), 1 = none", range=(1, 9))
    input_size: int = knob(224, "backbone input px; 0 = as loaded", range=(0, 1024))
    layers: str = knob(
        ",".join(LAYERS),
        "comma-separated stages; the first sets the map's stride (layer1 = 4)",
    )
    ridge: float = knob(0.01, "added to every covariance diagonal", range=(1e-8, 100.0))
    blur_sigma: float = knob(4.0, "px, on the upsampled map", range=(0.0, 64.0))
    batch_size: int = knob(32, range=(1, 1024))
    tile_gaussian: Literal["shared", "per_tile"] = knob(
        "shared",
        'on tiles: one Gaussian per within-tile position, or "per_tile" grid place too',
    )

    def __post_init__(self) -> None:
        check_choices(self, "padim")
        total = layer_channels(self.backbone, split_layers(self.layers))
        if not 0 <= self.d <= total:
            raise ValueError(f"d={self.d} for padim with {self.backbone}: choose 0 (default) to {total}")
        if self.pool % 2 == 0:
            raise ValueError(f"pool={self.pool} for padim: choose an odd kernel size (1 = none)")


def concat_layers(maps: dict[str, Tensor], pool: int, layers: tuple[str, ...] = LAYERS) -> Tensor:
    """Layer maps (e.g. strides 4, 8, 16) -> (B, sum K, h, w) at the first layer's size: each `pool` x `pool`
    averaged, deeper layers upsampled bilinearly."""
    size = maps[layers[0]].shape[-2:]
    parts = []
    for name in layers:
        x = maps[name].float()
        if pool > 1:
            x = F.avg_pool2d(x, pool, stride=1, padding=pool // 2, count_include_pad=False)
        parts.append(x if x.shape[-2:] == size else F.interpolate(x, size=size, mode="bilinear"))
    return torch.cat(parts, dim=1)


class Padim(BaseMethod):
    key: ClassVar[str] = "padim"
    description: ClassVar[str] = (
        "a Gaussian per patch position over pretrained CNN features (Defard et al. 2020)"
    )
    Params: ClassVar[type] = Params
    smooth_maps: ClassVar[bool] = True
    without_loss: ClassVar[bool] = True  # "loss" is the mean fit distance
    presets: ClassVar[dict] = {
        "smoke": {"weights": "random", "d": 32, "input_size": 0, "batch_size": 8},
        # 224 px, 4 px blur (the defaults). Measured with the `leaderboard` suite at 448 px / 2 px blur: PIPED
        # pixel AUROC 0.95 -> 0.98 (pa_bdp01_tl), but image AUROC 0.766 -> 0.743 on tire and 4x the time (tire
        # 236 s, magnetic_tile 592 s): the positions' covariances grow with the square of the input size.
        "cpu": {"batch_size": 32},
        "paper": {"backbone": "wide_resnet50_2", "d": 550, "pool": 1, "input_size": 224, "batch_size": 32},
        # images at their own size on 224 px tiles, each fed to the backbone as it is (input_size 0); 100 random
        # channels of 176, so that per_tile's Gaussians (x tiles per image) stay within a few GB
        "native": {"input_size": 0, "d": 100, "batch_size": 32, "tile": 224},
    }

    def __init__(
        self,
        params: Params,
        image_shape: tuple[int, int, int],
        device: DeviceInfo | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__(params, image_shape, device, seed)
        self.layers = split_layers(params.layers)
        self.backbone, _ = self.feature_backbone(params.backbone, params.weights, self.layers)
        self.backbone.to(self.device).eval().requires_grad_(False)
        total = layer_channels(params.backbone, self.layers)
        d = params.d or min(PAPER_D.get(params.backbone, total), total)
        generator = torch.Generator().manual_seed(seed)
        self.channels = torch.randperm(total, generator=generator)[:d].sort().values.to(self.device)  # (d,)
        self.mean: Tensor | None = None  # (P, d), P = positions of the first layer's map; per_tile: (S, P, d)
        self.precision: Tensor | None = None  # (P, d, d); per_tile: (S, P, d, d), S = tiles per image
        self.tiled_size: Tensor | None = None  # per_tile: (H, W) of the images the grid places were fitted on
        self.n_fitted = 0  # training images behind each position's Gaussian (for leave-one-out scores)

    @classmethod
    def memory_bytes(cls, params: Params, channels: int, side: int) -> float:
        """Float64 sums of the moments and float32 precisions per position (per grid place with per_tile)."""
        size = params.input_size or side
        total = layer_channels(params.backbone, split_layers(params.layers))
        d = params.d or min(PAPER_D.get(params.backbone, total), total)
        slots = PER_TILE_SLOTS if params.tile_gaussian == "per_tile" else 1
        return float((size // 4) ** 2 * d * d * (12 * slots + 8))

    @property
    def per_tile(self) -> bool:
        return self.tiler is not None and self.params.tile_gaussian == "per_tile"

    @torch.no_grad()
    def features(self, images: Tensor) -> Tensor:
        """[0, 1] images (B, C, H, W) -> selected features (B, d, S/4, S/4) at S = input_size, float32."""
        x = resize_input(images.to(self.device), self.params.input_size)
        with self.autocast():
            maps = self.backbone(x)
        return concat_layers(maps, self.params.pool, self.layers).index_select(1, self.channels).float()

    def fit(
        self, train: DataLoader, labeled_anomalies: DataLoader | None = None, on_epoch: OnEpoch | None = None
    ) -> None:
        torch.manual_seed(self.seed)
        if self.per_tile and isinstance(train, TileBatches):
            cov = self._fit_per_tile(train)
        else:
            moments = RunningMoments()
            pooled = []
            for batch in train:
                feats = self.features(batch)  # (B, d, h, w)
                moments.update(feats.flatten(2).transpose(1, 2))  # (B, P, d)
                pooled.append(feats.mean(dim=(2, 3)))
            mean, cov = moments.mean_cov()  # (P, d), (P, d, d)
            self.n_fitted = moments.count
            self.mean = mean.float()
            self.precision = regularized_precision(cov, self.params.ridge)  # (P, d, d)
            self.centroid = embedding_centroid(torch.cat(pooled))
        # mean squared Mahalanobis distance of the training features, tr(P C) with P = (C + ridge I)^-1, i.e.
        # d - ridge tr(P) (no loss to report; the elementwise product took 1-2 s at 224 px)
        trace = self.precision.diagonal(dim1=-2, dim2=-1).double().sum(dim=-1)  # (P,) or (S, P)
        fit_distance = (cov.shape[-1] - self.params.ridge * trace).mean().item()
        if on_epoch is not None:
            on_epoch(EpochLog(1, 1, {"loss": fit_distance}))

    def _fit_per_tile(self, train: TileBatches) -> Tensor:
        """One Gaussian per (grid place, within-tile position): moments per slot, then each slot's precision in
        turn (its float64 covariance freed before the next). Returns the last slot's covariance (for its size)."""
        moments: dict[int, RunningMoments] = {}
        pooled = []
        for tiles, slots in train.with_slots():
            feats = self.features(tiles)  # (B, d, h, w)
            pooled.append(feats.mean(dim=(2, 3)))
            for slot in slots.unique().tolist():
                chosen = (slots == slot).nonzero().flatten().to(feats.device)
                moments.setdefault(slot, RunningMoments()).update(feats[chosen].flatten(2).transpose(1, 2))
        if len(train.sizes) != 1:
            raise ValueError(
                f"padim with tile_gaussian=per_tile needs images of one size (one Gaussian per tile place); these "
                f"come in {len(train.sizes)} sizes: use tile_gaussian=shared"
            )
        if sorted(moments) != list(range(len(moments))):
            raise ValueError("padim per_tile: some tile places got no training tile")
        self.n_fitted = min(m.count for m in moments.values())  # training images behind each Gaussian
        means, precisions = [], []
        for slot in range(len(moments)):
            mean, cov = moments.pop(slot).mean_cov()
            means.append(mean.float())
            precisions.append(regularized_precision(cov, self.params.ridge))
        self.mean, self.precision = torch.stack(means), torch.stack(precisions)  # (S, P, d), (S, P, d, d)
        self.tiled_size = torch.tensor(next(iter(train.sizes)))
        self.centroid = embedding_centroid(torch.cat(pooled))
        return cov

    def predict(self, images: Tensor) -> Prediction:
        return self._predict(images, training=False)

    def predict_training(self, images: Tensor) -> Prediction:
        """Training images scored as if left out of their positions' Gaussians (`leave_one_out`): in-sample
        distances are several-fold smaller than a new normal image's, which would put every test image above
        the run's normal reference."""
        return self._predict(images, training=self.n_fitted > 0)

    def predict_images(self, images: Tensor | list[Tensor], training: bool = False) -> Prediction:
        if self.per_tile and self.tiled_size is not None:
            want = tuple(int(v) for v in self.tiled_size)
            for image in images:
                if tuple(image.shape[-2:]) != want:
                    raise ValueError(
                        f"padim with tile_gaussian=per_tile was fitted on {want[1]}x{want[0]} px images and cannot "
                        f"score one of {image.shape[-1]}x{image.shape[-2]} px"
                    )
        return super().predict_images(images, training)

    def predict_tiles(self, tiles: Tensor, slots: Tensor, training: bool = False) -> Prediction:
        """per_tile: each tile scored against the Gaussians of its grid place."""
        if not self.per_tile:
            return super().predict_tiles(tiles, slots, training)
        return self._predict(tiles, training=training and self.n_fitted > 0, slots=slots)

    def _predict(self, images: Tensor, training: bool, slots: Tensor | None = None) -> Prediction:
        if self.mean is None or self.precision is None:
            raise RuntimeError("padim: call fit() before predict()")
        feats = self.features(images)  # (B, d, h, w)
        b, _, h, w = feats.shape
        per_position = feats.flatten(2).permute(2, 0, 1)  # (P, B, d)
        if self.mean.ndim == 2:
            distance = mahalanobis(per_position, self.mean, self.precision).T  # (B, P)
        else:  # one Gaussian per grid place (per_tile): each tile against its own
            if slots is None:
                raise RuntimeError("padim fitted per tile place scores tiles only (predict_images)")
            distance = feats.new_empty(b, h * w)
            for slot in slots.unique().tolist():
                chosen = (slots == slot).nonzero().flatten().to(feats.device)
                found = mahalanobis(per_position[:, chosen], self.mean[slot], self.precision[slot])  # (P, n)
                distance[chosen] = found.T
        distance = distance.reshape(b, h, w)
        if training:
            distance = leave_one_out(distance.square(), self.n_fitted).sqrt()
        anomaly_map = upsample_blur(distance, tuple(images.shape[-2:]), self.params.blur_sigma)  # (B, H, W)
        return Prediction(
            score=anomaly_map.flatten(1).amax(dim=1),
            anomaly_map=anomaly_map,
            embedding=feats.mean(dim=(2, 3)),
        )
