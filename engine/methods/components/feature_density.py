"""Shared by `cutpaste` and `simclr_local`: a fine-tuned backbone trained by a self-supervised step, a Gaussian
density fitted on its pooled features (score = Mahalanobis distance) and a Grad-CAM map scaled by the score."""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader

from engine.config import DeviceInfo
from engine.methods.base import BaseMethod, embedding_centroid
from engine.methods.components.backbone import layer_channels, split_layers
from engine.methods.components.gaussian import leave_one_out, ledoit_wolf_gaussian, mahalanobis
from engine.methods.components.gradcam import grad_cam
from engine.methods.params import knob
from engine.methods.prediction import Prediction
from engine.methods.progress import OnEpoch
from engine.methods.training import StepLog, Updater, train_epochs

CamLayer = Literal["layer2", "layer3", "layer4"]
FrozenThrough = Literal["none", "layer1", "layer2", "layer3"]


def cam_layer_knob() -> Any:
    """The `cam_layer` field both methods' Params declare."""
    return knob("layer3", "Grad-CAM layer: layer4 is only 4x4 at 128 px")


def density_layers_knob() -> Any:
    """The `density_layers` field both methods' Params declare."""
    return knob(
        "layer4",
        "stages whose pooled features make the scored (Gaussian) vector, concatenated: the paper pools "
        "layer4 only; earlier stages add the finer statistics of small defects (Rippel et al. 2020, "
        "https://arxiv.org/abs/2005.14140)",
    )


def frozen_through_knob() -> Any:
    """The `frozen_through` field both methods' Params declare."""
    return knob(
        "none",
        'stages whose ImageNet weights stay fixed while fine-tuning ("none": all train, as the paper '
        "does); freezing through layer2 cuts a CPU epoch several-fold (the backward pass through the "
        "early stages)",
    )


class FeatureDensityMethod(BaseMethod):
    """A method whose `self.model(images)` returns pooled features (B, F), a head's output and the `cam_layer`
    activation (B, K, h, w); its Params name `backbone`, `weights`, `cam_layer`, `density_layers`,
    `frozen_through` and `epochs`. Subclasses implement `build_model`, `make_optimizer`, `train_step` and
    `cam_target`."""

    model: torch.nn.Module
    mean: Tensor | None = None  # (F,) Gaussian of normal training features
    precision: Tensor | None = None  # (F, F)
    n_fitted: int = 0  # distinct training images behind the Gaussian (for leave-one-out training scores)
    shrinkage: float = 0.0  # Ledoit-Wolf's

    def __init__(
        self,
        params: Any,
        image_shape: tuple[int, int, int],
        device: DeviceInfo | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__(params, image_shape, device, seed)
        self.model = self.build_model(*self.density_encoder()).to(self.device)

    def density_encoder(self) -> tuple[nn.Module, int, tuple[str, ...]]:
        """The backbone giving `cam_layer`, layer4 and `density_layers` (fixed through `frozen_through`), the
        channels of layer4 and the density layers."""
        p = self.params
        density_layers = split_layers(p.density_layers, "density_layers")
        encoder, _ = self.feature_backbone(p.backbone, p.weights, (p.cam_layer, "layer4", *density_layers))
        if p.frozen_through != "none":
            encoder.freeze_through(p.frozen_through)
        return encoder, layer_channels(p.backbone, ("layer4",)), density_layers

    def build_model(self, encoder: nn.Module, feature_dim: int, density_layers: tuple[str, ...]) -> nn.Module:
        """The network on `encoder` (layer4 of `feature_dim` channels) that `self.model` holds."""
        raise NotImplementedError

    def make_optimizer(self) -> torch.optim.Optimizer:
        raise NotImplementedError

    def train_step(self, images: Tensor, generator: torch.Generator, updater: Updater) -> StepLog:
        """One update on a batch of normal images (B, C, H, W), pseudo-anomalies drawn from `generator`."""
        raise NotImplementedError

    def cam_target(self, score: Tensor, head: Tensor) -> Tensor:
        """What the Grad-CAM explains (B,), from the score (B,) and the head's output."""
        raise NotImplementedError

    def fit(
        self, train: DataLoader, labeled_anomalies: DataLoader | None = None, on_epoch: OnEpoch | None = None
    ) -> None:
        """Fine-tune with `train_step` (the optimizer's rate cosine-annealed over the epochs), then fit the
        Gaussian."""
        epochs = self.params.epochs
        torch.manual_seed(self.seed)
        generator = torch.Generator().manual_seed(self.seed)
        optimizer = self.make_optimizer()
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, epochs))
        updater = Updater(optimizer, self.device_info.mixed_precision)

        def step(images: Tensor) -> StepLog:
            return self.train_step(images, generator, updater)

        train_epochs(train, step, epochs, [self.model], self.device, on_epoch, schedule)
        self.fit_density(train)

    def predict(self, images: Tensor) -> Prediction:
        if self.mean is None or self.precision is None:
            raise RuntimeError(f"{self.key}: call fit() before predict()")
        self.model.eval()
        with torch.enable_grad():
            with self.autocast():
                features, head, activation = self.model(images.to(self.device))
            score = mahalanobis(features.float(), self.mean, self.precision)  # (B,)
            cam = grad_cam(activation, self.cam_target(score, head), tuple(images.shape[-2:]))  # (B, H, W)
        score = score.detach()
        return Prediction(
            score=score,
            anomaly_map=cam * score[:, None, None],
            embedding=features.detach().float(),
            attention=cam,
        )

    @torch.no_grad()
    def features(self, images: Tensor) -> Tensor:
        """Pooled encoder features (B, F) of [0, 1] images, float32."""
        self.model.eval()
        with self.autocast():
            return self.model(images.to(self.device))[0].float()

    def fit_density(self, train: DataLoader) -> None:
        """Fit the Gaussian (Ledoit-Wolf covariance) and the centroid on the training features."""
        features = torch.cat([self.features(batch) for batch in train])  # (N, F)
        self.mean, self.precision, self.shrinkage = ledoit_wolf_gaussian(features)
        self.centroid = embedding_centroid(features)
        # a small set passes several times per epoch at the cpu preset: count each image once
        self.n_fitted = torch.unique(features, dim=0).shape[0]

    def predict_training(self, images: Tensor) -> Prediction:
        """Training images scored as if left out of the Gaussian (`leave_one_out`): in-sample distances are far
        smaller than a new normal image's. The maps (Grad-CAM times the distance) scale with the score, so that a
        tiled image's score, taken from its stitched map, is left out too."""
        pred = self.predict(images)
        if self.n_fitted < 3:
            return pred
        squared = pred.score.square()
        score = leave_one_out(squared, self.n_fitted, self.shrinkage, divisor="n").sqrt()
        scale = score / pred.score.clamp_min(1e-12)
        return dataclasses.replace(pred, score=score, anomaly_map=pred.anomaly_map * scale[:, None, None])
