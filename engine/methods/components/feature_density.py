"""Shared by `cutpaste` and `simclr_local`: pooled encoder features and a Gaussian density fitted on them."""

from __future__ import annotations

import torch
from torch import Tensor
from torch.utils.data import DataLoader

from engine.methods.base import BaseMethod, embedding_centroid
from engine.methods.components.gaussian import ledoit_wolf_gaussian


class FeatureDensityMethod(BaseMethod):
    """A method whose `self.model(images)` returns pooled features first; scores by a Gaussian on them."""

    model: torch.nn.Module
    mean: Tensor | None = None  # (F,) Gaussian of normal training features
    precision: Tensor | None = None  # (F, F)

    @torch.no_grad()
    def features(self, images: Tensor) -> Tensor:
        """Pooled encoder features (B, F) of [0, 1] images, float32."""
        self.model.eval()
        with self.autocast():
            return self.model(images.to(self.device))[0].float()

    def fit_density(self, train: DataLoader) -> None:
        """Fit the Gaussian (Ledoit-Wolf covariance) and the centroid on the training features."""
        features = torch.cat([self.features(batch) for batch in train])  # (N, F)
        self.mean, self.precision = ledoit_wolf_gaussian(features)
        self.centroid = embedding_centroid(features)
