"""Shared by `cutpaste` and `simclr_local`: pooled encoder features and a Gaussian density fitted on them."""

from __future__ import annotations

import dataclasses

import torch
from torch import Tensor
from torch.utils.data import DataLoader

from engine.methods.base import BaseMethod, Prediction, embedding_centroid
from engine.methods.components.gaussian import leave_one_out, ledoit_wolf_gaussian


class FeatureDensityMethod(BaseMethod):
    """A method whose `self.model(images)` returns pooled features first; scores by a Gaussian on them."""

    model: torch.nn.Module
    mean: Tensor | None = None  # (F,) Gaussian of normal training features
    precision: Tensor | None = None  # (F, F)
    n_fitted: int = 0  # distinct training images behind the Gaussian (for leave-one-out training scores)
    shrinkage: float = 0.0  # Ledoit-Wolf's

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
