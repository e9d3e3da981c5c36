"""CutPaste (Li et al., CVPR 2021, https://arxiv.org/abs/2104.04015): a ResNet learns to tell normal images from
CutPaste (and scar) augmented ones; score = Mahalanobis distance of its pooled features to a Gaussian (Ledoit-Wolf
covariance) of the normal training features; map = Grad-CAM of the anomaly logit, scaled by the score.

On tiles (the native preset) the network trains on tiles as on images (pseudo-anomalies pasted within a tile,
batches mixing the tiles of several images) and the Gaussian is fitted on the pooled features of all training
tiles, wherever they lie; a test tile's map is its Grad-CAM times its own distance, the maps are stitched and the
image scored from the stitched map (engine.methods.components.tiling)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from engine.methods.components.backbone import (
    DEFAULT_BACKBONE,
    BackboneName,
    check_frozen_through,
    pooled,
    pooled_layers,
    split_layers,
)
from engine.methods.components.feature_density import (
    CamLayer,
    FeatureDensityMethod,
    FrozenThrough,
    cam_layer_knob,
    density_layers_knob,
    frozen_through_knob,
)
from engine.methods.components.pseudo_anomaly import cutpaste, scar
from engine.methods.params import check_choices, knob
from engine.methods.training import StepLog, Updater

VARIANTS = {"2way": 2, "3way": 3}  # classes: normal, CutPaste (, scar)


@dataclass(frozen=True)
class Params:
    variant: Literal["2way", "3way"] = knob(
        "3way",
        'the paper\'s best detector; "2way": normal vs CutPaste only',
    )
    backbone: BackboneName = knob(DEFAULT_BACKBONE, "a timm name from components/backbone.py BACKBONES")
    weights: str = knob("auto", '"auto" / "imagenet", "random" or a weights file (components/backbone.py)')
    head_dim: int = knob(
        128,
        "output of the MLP projection head that feeds the linear classifier",
        range=(1, 4096),
    )
    epochs: int = knob(8, range=(1, 10_000))
    batch_size: int = knob(
        32,
        "normal images per step; each step also sees one augmented copy per class",
        range=(1, 1024),
    )
    lr: float = knob(0.03, range=(1e-8, 10.0))
    momentum: float = knob(0.9, range=(0.0, 0.9999))
    weight_decay: float = knob(3e-5, range=(0.0, 1.0))
    jitter: float = knob(0.1, "colour jitter strength of the pasted patches", range=(0.0, 1.0))
    cam_layer: CamLayer = cam_layer_knob()
    density_layers: str = density_layers_knob()
    frozen_through: FrozenThrough = frozen_through_knob()

    def __post_init__(self) -> None:
        check_choices(self, "cutpaste")
        split_layers(self.density_layers, "density_layers")
        check_frozen_through(self.frozen_through, self.cam_layer, "cutpaste")


class ProjectionClassifier(nn.Module):
    """Backbone -> pooled layer4 features -> MLP projection head -> linear classifier."""

    def __init__(
        self,
        encoder: nn.Module,
        feature_dim: int,
        head_dim: int,
        classes: int,
        cam_layer: str,
        density_layers: tuple[str, ...] = ("layer4",),
    ) -> None:
        super().__init__()
        self.encoder = encoder  # a components.backbone.Backbone giving cam_layer, layer4 and density_layers
        self.cam_layer = cam_layer
        self.density_layers = density_layers
        self.head = nn.Sequential(
            nn.Linear(feature_dim, feature_dim),
            nn.BatchNorm1d(feature_dim),
            nn.ReLU(inplace=True),
            nn.Linear(feature_dim, head_dim),
            nn.BatchNorm1d(head_dim),
            nn.ReLU(inplace=True),
        )
        self.classifier = nn.Linear(head_dim, classes)

    def forward(self, images: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Pooled `density_layers` features (B, F), logits (B, classes) and the `cam_layer` activation (B, K, h, w)."""
        maps = self.encoder(images)
        logits = self.classifier(self.head(pooled(maps["layer4"])))
        return pooled_layers(maps, self.density_layers), logits, maps[self.cam_layer]


def anomaly_logit(logits: Tensor) -> Tensor:
    """(B, classes) -> (B,): log-odds of "any augmentation" against "normal" (class 0)."""
    return logits[:, 1:].logsumexp(dim=1) - logits[:, 0]


CPU_PRESET = {
    "epochs": 8,
    "batch_size": 32,
    "frozen_through": "layer2",
    "lr": 0.01,
    "density_layers": "layer3,layer4",
}


class CutPaste(FeatureDensityMethod):
    key: ClassVar[str] = "cutpaste"
    description: ClassVar[str] = (
        "a ResNet taught to spot cut-and-pasted patches; score = feature distance to normal (Li et al. 2021)"
    )
    Params: ClassVar[type] = Params
    smooth_maps: ClassVar[bool] = True
    presets: ClassVar[dict] = {
        "smoke": {"weights": "random", "epochs": 1, "batch_size": 8},
        # lr 0.01, not the paper's 0.03: fine-tuning ImageNet efficientnet_lite0 at 0.03 collapsed its features on
        # magnetic_tile (762 images, ~190 steps: every score equal, image AUROC 0.500). The `leaderboard` suite
        # at 0.01 vs 0.03: magnetic_tile 0.847 / 0.500, PIPED 0.966-0.997 / 0.917-0.974, tire 0.634 / 0.707.
        # density on pooled layer3 + layer4, not layer4 alone (python -m engine train ... --set density_layers=...,
        # one run each, layer4 / layer3,layer4): tire 0.634 / 0.686, magnetic_tile 0.847 / 0.897, pa_bdp01_tl
        # 0.966 / 0.980, pa_brg01_rl 0.987 / 0.980, pa_flr01_tl 0.997 / 0.996 (layer3 alone: 0.741, 0.875, 0.996,
        # 0.956, 1.000)
        "cpu": CPU_PRESET,
        # Paper: 256 epochs, batch 96 (here: 96 normal images, each with its augmented copies), SGD lr 0.03
        # with cosine decay, momentum 0.9, weight decay 3e-5, 256 px, ResNet18.
        "paper": {"epochs": 256, "batch_size": 96},
        # images at their own size on 224 px tiles, fed to the network as they are; otherwise the cpu preset
        "native": {**CPU_PRESET, "tile": 224},
    }

    def build_model(self, encoder: nn.Module, feature_dim: int, density_layers: tuple[str, ...]) -> nn.Module:
        p = self.params
        classes = VARIANTS[p.variant]
        return ProjectionClassifier(encoder, feature_dim, p.head_dim, classes, p.cam_layer, density_layers)

    def augmented_batch(self, images: Tensor, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        """Normal images (B, C, H, W) -> inputs (classes * B, C, H, W) and class labels (classes * B,)."""
        views = [images, cutpaste(images, generator, self.params.jitter)[0]]
        if self.params.variant == "3way":
            views.append(scar(images, generator, self.params.jitter)[0])
        labels = torch.arange(len(views), device=images.device).repeat_interleave(images.shape[0])
        return torch.cat(views), labels

    def make_optimizer(self) -> torch.optim.Optimizer:
        p = self.params
        return torch.optim.SGD(
            self.model.parameters(), lr=p.lr, momentum=p.momentum, weight_decay=p.weight_decay
        )

    def train_step(self, images: Tensor, generator: torch.Generator, updater: Updater) -> StepLog:
        inputs, labels = self.augmented_batch(images, generator)
        with self.autocast():
            logits = self.model(inputs)[1]
        loss = F.cross_entropy(logits.float(), labels)
        updater.update(loss)
        count = labels.shape[0]
        accuracy = int((logits.argmax(dim=1) == labels).sum()) / count
        return StepLog({"loss": loss.item(), "accuracy": accuracy}, count)

    def cam_target(self, score: Tensor, head: Tensor) -> Tensor:
        return anomaly_logit(head.float())
