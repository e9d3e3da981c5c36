"""Convolutional autoencoder trained on normal images; anomaly = reconstruction error or distance of the
code to the centroid of normal codes (Sakurada & Yairi, MLSDA 2014, https://doi.org/10.1145/2689746.2689747)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import DataLoader

from engine.methods.base import BaseMethod, embedding_centroid
from engine.methods.components.conv import ConvDecoder, ConvEncoder
from engine.methods.params import check_choices, knob
from engine.methods.prediction import Prediction
from engine.methods.progress import OnEpoch
from engine.methods.training import StepLog, Updater, train_epochs


@dataclass(frozen=True)
class Params:
    score: Literal["recon", "latent"] = knob(
        "recon",
        '"recon": mean squared error; "latent": distance of the code to the centroid',
    )
    latent_dim: int = knob(128, range=(1, 4096))
    width: int = knob(16, "channels of the first conv stage, doubled per stage up to 256", range=(1, 256))
    epochs: int = knob(40, range=(1, 10_000))
    batch_size: int = knob(32, range=(1, 1024))
    lr: float = knob(1e-3, range=(1e-8, 10.0))

    def __post_init__(self) -> None:
        check_choices(self, "autoencoder")


class ConvAutoencoder(nn.Module):
    def __init__(self, channels: int, image_size: int, latent_dim: int, width: int) -> None:
        super().__init__()
        self.encoder = ConvEncoder(channels, image_size, latent_dim, width)
        self.decoder = ConvDecoder(latent_dim, channels, image_size, width)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        code = self.encoder(x)  # (B, D)
        return self.decoder(code), code  # (B, C, H, W), (B, D)


class Autoencoder(BaseMethod):
    key = "autoencoder"
    description: ClassVar[str] = (
        "a convolutional autoencoder of normal images; score = reconstruction error (Sakurada & Yairi 2014)"
    )
    Params = Params
    presets: ClassVar = {
        "smoke": {"latent_dim": 16, "width": 8, "epochs": 1, "batch_size": 8},
        "cpu": {"latent_dim": 128, "width": 16, "epochs": 40, "batch_size": 32},
        # The source slides: 256 px input, 16..256 channels, a 4x4x256 = 4096-d code.
        "paper": {"latent_dim": 4096, "width": 16, "epochs": 100, "batch_size": 32},
    }

    def __init__(self, params: Params, image_shape, device=None, seed: int = 0) -> None:
        super().__init__(params, image_shape, device, seed)
        c, h, _ = self.image_shape
        torch.manual_seed(seed)
        self.model = ConvAutoencoder(c, h, params.latent_dim, params.width).to(self.device)

    def fit(
        self, train: DataLoader, labeled_anomalies: DataLoader | None = None, on_epoch: OnEpoch | None = None
    ) -> None:
        p = self.params
        torch.manual_seed(self.seed)
        updater = Updater(
            torch.optim.Adam(self.model.parameters(), lr=p.lr), self.device_info.mixed_precision
        )

        def step(x: Tensor) -> StepLog:  # (B, C, H, W)
            with self.autocast():
                recon, _ = self.model(x)
            loss = F.mse_loss(recon.float(), x)
            updater.update(loss)
            return StepLog({"loss": loss.item()}, len(x))

        train_epochs(train, step, p.epochs, [self.model], self.device, on_epoch)
        self.centroid = embedding_centroid(torch.cat([self._encode(x) for x in train]))

    @torch.no_grad()
    def _encode(self, x: Tensor) -> Tensor:
        self.model.eval()
        with self.autocast():
            return self.model.encoder(x.to(self.device)).float()  # (B, D)

    @torch.no_grad()
    def predict(self, images: Tensor) -> Prediction:
        self.model.eval()
        x = images.to(self.device)
        with self.autocast():
            recon, code = self.model(x)
        recon, code = recon.float(), code.float()
        error = ((x - recon) ** 2).mean(dim=1)  # (N, H, W)
        if self.params.score == "latent":
            score = latent_distance(code, self.centroid)
        else:
            score = error.flatten(1).mean(dim=1)
        return Prediction(score=score, anomaly_map=error, embedding=code, reconstruction=recon)


def latent_distance(codes: Tensor, centroid: Tensor | None) -> Tensor:
    """Euclidean distance of (N, D) codes to the (D,) centroid -> (N,)."""
    if centroid is None:
        raise RuntimeError("the latent score needs the centroid of training codes: call fit() first")
    return torch.linalg.vector_norm(codes - centroid.to(codes.device), dim=1)
