"""One-class Deep SVDD (Ruff et al., ICML 2018, https://proceedings.mlr.press/v80/ruff18a.html) and its
semi-supervised form Deep SAD, which pushes labeled anomalies away from the centre (ICLR 2020,
https://arxiv.org/abs/1906.02694)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import ClassVar, Literal

import kornia
import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import DataLoader

from engine.methods.base import BaseMethod
from engine.methods.components.conv import ConvDecoder, ConvEncoder
from engine.methods.params import check_choices, knob
from engine.methods.prediction import Prediction
from engine.methods.progress import OnEpoch
from engine.methods.training import StepLog, Updater, train_epochs


@dataclass(frozen=True)
class Params:
    mode: Literal["one_class", "semi"] = knob(
        "one_class",
        '"one_class": Deep SVDD | "semi": Deep SAD with labeled anomalies',
    )
    rep_dim: int = knob(32, range=(1, 4096))
    width: int = knob(16, "channels of the first conv stage, doubled per stage up to 256", range=(1, 256))
    pretrain_epochs: int = knob(
        10,
        "autoencoder pretraining of the encoder, as in the paper (0: none)",
        range=(0, 10_000),
    )
    epochs: int = knob(30, range=(1, 10_000))
    batch_size: int = knob(32, range=(1, 1024))
    lr: float = knob(1e-4, range=(1e-8, 10.0))
    weight_decay: float = knob(5e-7, range=(0.0, 1.0))
    eta: float = knob(1.0, "Deep SAD weight of the labeled-anomaly term", range=(0.0, 1000.0))
    center_eps: float = knob(
        0.1,
        "centre coordinates closer to 0 than this are pushed to +-eps",
        range=(0.0, 10.0),
    )
    saliency_sigma: float = knob(2.0, "Gaussian smoothing (px) of the input-gradient map", range=(0.0, 64.0))

    def __post_init__(self) -> None:
        check_choices(self, "deep_svdd")


def initial_center(embeddings: Tensor, eps: float) -> Tensor:
    """Mean of (N, D) embeddings with every coordinate at least `eps` away from 0 (avoids trivial units)."""
    c = embeddings.mean(dim=0)  # (D,)
    sign = torch.where(c < 0, -1.0, 1.0)
    return torch.where(c.abs() < eps, sign * eps, c)


def deep_sad_loss(distances: Tensor, is_anomaly: Tensor, eta: float, eps: float = 1e-6) -> Tensor:
    """Mean of ||phi(x) - c||^2 over normals and eta / (||phi(x) - c||^2 + eps) over labeled anomalies.

    With no anomalies in the batch this is the one-class Deep SVDD loss.
    """
    per_item = torch.where(is_anomaly, eta / (distances + eps), distances)
    return per_item.mean()


def cycle(loader: DataLoader) -> Iterator[Tensor]:
    """Batches of `loader` forever (a fresh pass each time it runs out)."""
    while True:
        yield from loader


class DeepSvdd(BaseMethod):
    key = "deep_svdd"
    description: ClassVar[str] = (
        "maps normal images close to a centre; semi mode pushes labeled anomalies away (Ruff et al. 2018, "
        "Deep SAD 2020)"
    )
    Params = Params
    uses_labeled_anomalies = True
    presets: ClassVar = {
        "smoke": {"rep_dim": 8, "width": 8, "pretrain_epochs": 1, "epochs": 1, "batch_size": 8},
        "cpu": {
            "rep_dim": 32,
            "width": 16,
            "pretrain_epochs": 10,
            "epochs": 30,
            "batch_size": 32,
            "lr": 1e-3,
        },
        # Ruff et al.: Adam lr 1e-4, weight decay 0.5e-6, batch 200, 250 AE pretraining + 150 epochs.
        "paper": {"rep_dim": 128, "width": 32, "pretrain_epochs": 250, "epochs": 150, "batch_size": 200},
    }

    def __init__(self, params: Params, image_shape, device=None, seed: int = 0) -> None:
        super().__init__(params, image_shape, device, seed)
        c, h, _ = self.image_shape
        torch.manual_seed(seed)
        # Bias-free (and no BatchNorm shift) so the network cannot map everything onto c trivially.
        self.net = ConvEncoder(c, h, params.rep_dim, params.width, bias=False).to(self.device)

    def fit(
        self, train: DataLoader, labeled_anomalies: DataLoader | None = None, on_epoch: OnEpoch | None = None
    ) -> None:
        p = self.params
        torch.manual_seed(self.seed)
        if p.mode == "semi" and labeled_anomalies is None:
            self.notes.append("mode 'semi' got no labeled anomalies: trained one-class Deep SVDD")
        if p.mode == "one_class" and labeled_anomalies is not None:
            self.notes.append("mode 'one_class' ignores the labeled anomalies")
        anomalies = cycle(labeled_anomalies) if p.mode == "semi" and labeled_anomalies is not None else None
        total_epochs = p.pretrain_epochs + p.epochs
        if p.pretrain_epochs:
            self._pretrain(train, total_epochs, on_epoch)
        self.centroid = initial_center(self._embed_all(train), p.center_eps)
        optimizer = torch.optim.Adam(self.net.parameters(), lr=p.lr, weight_decay=p.weight_decay)
        updater = Updater(optimizer, self.device_info.mixed_precision)

        def step(x: Tensor) -> StepLog:  # (B, C, H, W)
            is_anomaly = torch.zeros(len(x), dtype=torch.bool, device=self.device)
            if anomalies is not None:
                a = next(anomalies).to(self.device)
                x = torch.cat([x, a])
                is_anomaly = torch.cat([is_anomaly, torch.ones(len(a), dtype=torch.bool, device=self.device)])
            with self.autocast():
                emb = self.net(x)  # (B, D)
            distances = ((emb.float() - self.centroid) ** 2).sum(dim=1)
            loss = deep_sad_loss(distances, is_anomaly, p.eta)
            updater.update(loss)
            return StepLog({"loss": loss.item()}, len(x))

        train_epochs(
            train, step, p.epochs, [self.net], self.device, on_epoch, first_epoch=p.pretrain_epochs + 1
        )

    def _pretrain(self, train: DataLoader, total_epochs: int, on_epoch: OnEpoch | None) -> None:
        """Train the encoder with a throw-away decoder as an autoencoder (the paper's initialisation)."""
        c, h, _ = self.image_shape
        p = self.params
        decoder = ConvDecoder(p.rep_dim, c, h, p.width).to(self.device)
        params = [*self.net.parameters(), *decoder.parameters()]
        optimizer = torch.optim.Adam(params, lr=p.lr, weight_decay=p.weight_decay)
        updater = Updater(optimizer, self.device_info.mixed_precision)

        def step(x: Tensor) -> StepLog:
            with self.autocast():
                recon = decoder(self.net(x))
            loss = F.mse_loss(recon.float(), x)
            updater.update(loss)
            return StepLog({"loss": loss.item(), "pretrain": 1.0}, len(x))

        modules = [self.net, decoder]
        train_epochs(
            train, step, p.pretrain_epochs, modules, self.device, on_epoch, total_epochs=total_epochs
        )

    @torch.no_grad()
    def _embed_all(self, loader: DataLoader) -> Tensor:
        self.net.eval()
        parts = []
        for x in loader:
            with self.autocast():
                parts.append(self.net(x.to(self.device)).float())
        return torch.cat(parts)  # (N, D)

    def predict(self, images: Tensor) -> Prediction:
        if self.centroid is None:
            raise RuntimeError("deep_svdd needs its centre c: call fit() first")
        self.net.eval()
        with torch.enable_grad():
            x = images.to(self.device).float().detach().requires_grad_(True)  # (N, C, H, W)
            with self.autocast():
                emb = self.net(x).float()  # (N, D)
            score = ((emb - self.centroid) ** 2).sum(dim=1)  # (N,)
            (grad,) = torch.autograd.grad(score.sum(), x)
        saliency = grad.abs().mean(dim=1, keepdim=True)  # (N, 1, H, W)
        s = self.params.saliency_sigma
        if s > 0:
            k = 2 * round(3 * s) + 1
            saliency = kornia.filters.gaussian_blur2d(saliency, (k, k), (s, s))
        attention = saliency[:, 0] / saliency.flatten(1).amax(dim=1).clamp_min(1e-12)[:, None, None]
        score = score.detach()
        return Prediction(
            score=score,
            anomaly_map=attention * score[:, None, None],  # saliency scaled so its peak equals the score
            embedding=emb.detach(),
            attention=attention,
        )
