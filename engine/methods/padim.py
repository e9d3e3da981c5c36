"""PaDiM (Defard et al., ICPR 2020, https://arxiv.org/abs/2011.08785): one Gaussian per feature-map position of
CNN features (layers at strides 4, 8, 16, locally averaged, optionally a random channel subset); anomaly map =
Mahalanobis distance, score = its max."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import DataLoader

from engine.config import DeviceInfo
from engine.methods.base import BaseMethod, EpochLog, OnEpoch, Prediction, embedding_centroid
from engine.methods.components.backbone import (
    DEFAULT_BACKBONE,
    check_backbone,
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

LAYERS = ("layer1", "layer2", "layer3")


PAPER_D = {"resnet18": 100, "wide_resnet50_2": 550}  # channels kept in the paper; other backbones keep all


@dataclass(frozen=True)
class Params:
    backbone: str = DEFAULT_BACKBONE  # a timm name from components/backbone.py BACKBONES
    weights: str = "auto"  # "auto" / "imagenet", "random" or a weights file (components/backbone.py)
    d: int = (
        0  # channels kept by random selection; 0 = the paper's 100 / 550 for ResNets, all (176) for lite0
    )
    pool: int = field(
        default=3, metadata={"range": (1, 9)}
    )  # local average (px of the first layer's map), 1 = none
    input_size: int = field(default=224, metadata={"range": (0, 1024)})  # backbone input px; 0 = as loaded
    layers: str = ",".join(LAYERS)  # comma-separated stages; the first sets the map's stride (layer1 = 4)
    ridge: float = 0.01  # added to every covariance diagonal
    blur_sigma: float = 4.0  # px, on the upsampled map
    batch_size: int = 32

    def __post_init__(self) -> None:
        check_backbone(self.backbone, "padim")
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
    Params: ClassVar[type] = Params
    presets: ClassVar[dict] = {
        "smoke": {"weights": "random", "d": 32, "input_size": 0, "batch_size": 8},
        # 224 px, 4 px blur (the defaults). Measured with `engine bench leaderboard` at 448 px / 2 px blur: PIPED
        # pixel AUROC 0.95 -> 0.98 (pa_bdp01_tl), but image AUROC 0.766 -> 0.743 on tire and 4x the time (tire
        # 236 s, magnetic_tile 592 s): the positions' covariances grow with the square of the input size.
        "cpu": {"batch_size": 32},
        "paper": {"backbone": "wide_resnet50_2", "d": 550, "pool": 1, "input_size": 224, "batch_size": 32},
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
        self.mean: Tensor | None = None  # (P, d), P = positions of the first layer's map
        self.precision: Tensor | None = None  # (P, d, d)
        self.n_fitted = 0  # training images behind each position's Gaussian (for leave-one-out scores)

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
        trace = self.precision.diagonal(dim1=-2, dim2=-1).double().sum(dim=-1)  # (P,)
        fit_distance = (cov.shape[-1] - self.params.ridge * trace).mean().item()
        if on_epoch is not None:
            on_epoch(EpochLog(1, 1, {"loss": fit_distance}))

    def predict(self, images: Tensor) -> Prediction:
        return self._predict(images, training=False)

    def predict_training(self, images: Tensor) -> Prediction:
        """Training images scored as if left out of their positions' Gaussians (`leave_one_out`): in-sample
        distances are several-fold smaller than a new normal image's, which would put every test image above
        the run's normal reference."""
        return self._predict(images, training=self.n_fitted > 0)

    def _predict(self, images: Tensor, training: bool) -> Prediction:
        if self.mean is None or self.precision is None:
            raise RuntimeError("padim: call fit() before predict()")
        feats = self.features(images)  # (B, d, h, w)
        b, _, h, w = feats.shape
        per_position = feats.flatten(2).permute(2, 0, 1)  # (P, B, d)
        distance = mahalanobis(per_position, self.mean, self.precision).T.reshape(b, h, w)  # (B, h, w)
        if training:
            distance = leave_one_out(distance.square(), self.n_fitted).sqrt()
        anomaly_map = upsample_blur(distance, tuple(images.shape[-2:]), self.params.blur_sigma)  # (B, H, W)
        return Prediction(
            score=anomaly_map.flatten(1).amax(dim=1),
            anomaly_map=anomaly_map,
            embedding=feats.mean(dim=(2, 3)),
        )
