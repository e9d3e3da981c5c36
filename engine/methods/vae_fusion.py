"""VAE + embedding-space detection (seed 000): 1 - SSIM(x, x~) in image space and ||mu - c|| to the training
centroid, fused by the decision further from its threshold; optional Center Loss on the code (Wen et al.,
ECCV 2016, https://doi.org/10.1007/978-3-319-46478-7_31)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

import kornia
import torch
from torch import Tensor
from torch.utils.data import DataLoader

from engine.methods.base import BaseMethod, embedding_centroid
from engine.methods.components.gaussian import leave_one_out, ledoit_wolf_gaussian, mahalanobis
from engine.methods.params import check_choices, knob
from engine.methods.prediction import Prediction
from engine.methods.progress import OnEpoch
from engine.methods.vae import ConvVAE, encode_mean, fit_vae


@dataclass(frozen=True)
class Params:
    score: Literal["fusion", "ssim", "latent"] = knob(
        "fusion",
        '"fusion" | "ssim": 1 - SSIM only | "latent": ||mu - c|| only',
    )
    center_loss: bool = knob(True)
    center_weight: float = knob(1.0, "lambda in front of the Center Loss", range=(0.0, 1000.0))
    center_alpha: float = knob(0.5, "learning rate of the centre update (Wen et al.)", range=(0.0, 1.0))
    quantile: float = knob(
        0.95,
        "thresholds T_S, T_D = this quantile of the normal training scores",
        range=(0.0, 1.0),
    )
    scale: Literal["std", "iqr"] = knob(
        "std",
        '"std" | "iqr" of the training scores, to make the two margins comparable',
    )
    ssim_window: int = knob(11, range=(3, 63))
    latent_distance: Literal["euclidean", "mahalanobis"] = knob(
        "euclidean",
        "d(z, c): the seed's Euclidean distance, or Mahalanobis under a Ledoit-Wolf covariance of the "
        "training codes",
    )
    latent_dim: int = knob(25, range=(1, 4096))
    width: int = knob(16, "channels of the first conv stage, doubled per stage up to 256", range=(1, 256))
    beta: float = knob(1.0, "weight of the KL term in training", range=(0.0, 1000.0))
    epochs: int = knob(40, range=(1, 10_000))
    batch_size: int = knob(32, range=(1, 1024))
    lr: float = knob(1e-3, range=(1e-8, 10.0))

    def __post_init__(self) -> None:
        check_choices(self, "vae_fusion")
        if not 0.0 < self.quantile < 1.0:
            raise ValueError(f"quantile must lie in (0, 1), got {self.quantile}")


def center_loss(codes: Tensor, center: Tensor) -> Tensor:
    """Center Loss with one class: 1/2 * mean over the batch of ||z - c||^2 (the centre gets no gradient)."""
    return 0.5 * ((codes - center.detach()) ** 2).sum(dim=1).mean()


def updated_center(codes: Tensor, center: Tensor, alpha: float) -> Tensor:
    """Wen et al.'s centre step for one class: c - alpha * sum(c - z_i) / (1 + m)."""
    delta = (center - codes.detach()).sum(dim=0) / (1 + codes.shape[0])  # (D,)
    return center - alpha * delta


def ssim_error(x: Tensor, recon: Tensor, window: int) -> Tensor:
    """1 - SSIM map, mean over channels -> (N, H, W)."""
    return 1.0 - kornia.metrics.ssim(x.float(), recon.float(), window, max_val=1.0).mean(dim=1)


def threshold_and_scale(train_scores: Tensor, quantile: float, scale: str) -> tuple[Tensor, Tensor]:
    """Threshold = `quantile` of the normal training scores; scale = their std or IQR (never 0)."""
    threshold = torch.quantile(train_scores, quantile)
    if scale == "iqr":
        spread = torch.quantile(train_scores, 0.75) - torch.quantile(train_scores, 0.25)
    else:
        spread = train_scores.std() if train_scores.numel() > 1 else torch.zeros(())
    return threshold, spread.clamp_min(1e-8)


def fuse_margins(margin_s: Tensor, margin_d: Tensor) -> Tensor:
    """Per image, the normalised margin with the larger absolute value: its sign is the decision taken."""
    return torch.where(margin_s.abs() >= margin_d.abs(), margin_s, margin_d)


class VaeFusion(BaseMethod):
    key = "vae_fusion"
    description: ClassVar[str] = (
        "a VAE scored by image-space SSIM error and code distance to the normal centroid, fused"
    )
    Params = Params
    presets: ClassVar = {
        "smoke": {"latent_dim": 8, "width": 8, "epochs": 1, "batch_size": 8},
        "cpu": {"latent_dim": 25, "width": 16, "epochs": 40, "batch_size": 32},
        "paper": {
            "latent_dim": 25,
            "width": 32,
            "epochs": 300,
            "batch_size": 128,
            "lr": 1e-4,
            "center_weight": 1.0,
        },
    }

    def __init__(self, params: Params, image_shape, device=None, seed: int = 0) -> None:
        super().__init__(params, image_shape, device, seed)
        c, h, _ = self.image_shape
        torch.manual_seed(seed)
        self.model = ConvVAE(c, h, params.latent_dim, params.width).to(self.device)
        self.center = torch.zeros(params.latent_dim, device=self.device)  # Center Loss centre
        self.latent_precision = torch.eye(params.latent_dim, device=self.device)  # identity: Euclidean
        self.thresholds = torch.zeros(2, device=self.device)  # T_S, T_D
        self.scales = torch.ones(2, device=self.device)  # scale_S, scale_D

    def fit(
        self, train: DataLoader, labeled_anomalies: DataLoader | None = None, on_epoch: OnEpoch | None = None
    ) -> None:
        p = self.params
        torch.manual_seed(self.seed)
        extra = self._center_step if p.center_loss else None
        if p.center_loss:  # start the centre at the mean code of the untrained encoder
            self.center = embedding_centroid(encode_mean(self, self.model, train))
        fit_vae(self, self.model, train, p.epochs, p.lr, p.beta, on_epoch, extra)
        once = DataLoader(train.dataset, batch_size=train.batch_size)  # each training image once, in order
        codes = encode_mean(self, self.model, once)
        self.centroid = embedding_centroid(codes)
        shrinkage = 0.0
        if p.latent_distance == "mahalanobis":
            self.centroid, self.latent_precision, shrinkage = ledoit_wolf_gaussian(codes)
        s, d = zip(*(self._raw_scores(x.to(self.device))[:2] for x in once), strict=True)
        d = torch.cat(d)
        if p.latent_distance == "mahalanobis":  # in-sample distances are biased low: take each one left out
            d = leave_one_out(d**2, len(d), shrinkage, divisor="n").sqrt()
        t_s, sc_s = threshold_and_scale(torch.cat(s), p.quantile, p.scale)
        t_d, sc_d = threshold_and_scale(d, p.quantile, p.scale)
        self.thresholds, self.scales = torch.stack([t_s, t_d]), torch.stack([sc_s, sc_d])
        self.notes.append(
            f"thresholds at the {p.quantile:.0%} quantile of training scores: "
            f"T_S={t_s.item():.4g} (1-SSIM), T_D={t_d.item():.4g} (latent distance)"
        )

    def _center_step(self, mu: Tensor) -> tuple[Tensor, dict[str, float]]:
        loss = center_loss(mu, self.center)
        self.center = updated_center(mu, self.center, self.params.center_alpha)
        return self.params.center_weight * loss, {"center": loss.item()}

    @torch.no_grad()
    def _raw_scores(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
        """1 - SSIM (N,), latent distance (N,), 1 - SSIM map (N, H, W), reconstruction, mu."""
        self.model.eval()
        with self.autocast():
            recon, mu, _ = self.model(x)
        recon, mu = recon.float(), mu.float()
        ssim_map = ssim_error(x, recon, self.params.ssim_window)
        distance = mahalanobis(mu, self.centroid, self.latent_precision)  # Euclidean under the identity
        return ssim_map.flatten(1).mean(dim=1), distance, ssim_map, recon, mu

    def predict(self, images: Tensor) -> Prediction:
        if self.centroid is None:
            raise RuntimeError("vae_fusion needs the training centroid and thresholds: call fit() first")
        s, d, ssim_map, recon, mu = self._raw_scores(images.to(self.device))
        margin_s = (s - self.thresholds[0]) / self.scales[0]
        margin_d = (d - self.thresholds[1]) / self.scales[1]
        score = {"fusion": fuse_margins(margin_s, margin_d), "ssim": s, "latent": d}[self.params.score]
        return Prediction(score=score, anomaly_map=ssim_map, embedding=mu, reconstruction=recon)
