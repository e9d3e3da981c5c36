"""Iterative energy-based projection on a normal data manifold (Dehaene et al., ICLR 2020,
https://arxiv.org/abs/2002.03734): move the input down the VAE energy until it looks normal; the anomaly map
is the difference between the input and its projection."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor

from engine.methods.base import Prediction
from engine.methods.vae import ConvVAE, Vae

SCORES = ("mean", "topk")


@dataclass(frozen=True)
class Params:
    steps: int = 20
    step_size: float = 1.0  # alpha; the step is also weighted by the squared reconstruction error
    lam: float = 0.05  # lambda of the L1 term that keeps the projection near the input
    score: str = "topk"  # "mean" of the map | "topk": mean of its largest `topk` fraction of pixels
    topk: float = 0.02
    latent_dim: int = 64
    width: int = 16  # channels of the first conv stage, doubled per stage up to 256
    beta: float = 1.0  # weight of the KL term in training
    epochs: int = 40
    batch_size: int = 32
    lr: float = 1e-3

    def __post_init__(self) -> None:
        if self.score not in SCORES:
            raise ValueError(f"unknown score {self.score!r} for vae_projection; choose from {list(SCORES)}")
        if not 0.0 < self.topk <= 1.0:
            raise ValueError(f"topk must lie in (0, 1], got {self.topk}")


def reconstruction_energy(model: ConvVAE, x: Tensor) -> tuple[Tensor, Tensor]:
    """L_r(x) per image (sum of squared errors, decoding z = mu) -> (N,), and the reconstruction."""
    recon = model(x)[0].float()
    return ((x - recon) ** 2).flatten(1).sum(dim=1), recon


def project(
    model: ConvVAE, x0: Tensor, steps: int, step_size: float, lam: float, max_move: float | None = None
) -> Tensor:
    """x_{t+1} = clip(x_t - alpha * grad E(x_t) * (x_t - f(x_t))^2), E(x) = L_r(x) + lam * ||x - x0||_1.

    With `max_move` the update is instead scaled per image so its largest pixel move per step is `max_move`
    (a study of the step rule, benchmarks/projection_steps.py; not the seed's rule)."""
    model.eval()
    x = x0.detach().clone()
    with torch.enable_grad():
        for _ in range(steps):
            x.requires_grad_(True)
            l_r, recon = reconstruction_energy(model, x)
            energy = l_r + lam * (x - x0).abs().flatten(1).sum(dim=1)  # (N,)
            (grad,) = torch.autograd.grad(energy.sum(), x)
            weight = (x - recon).detach() ** 2  # focus the update on badly reconstructed pixels
            update = step_size * grad * weight
            if max_move is not None:
                largest = update.abs().flatten(1).amax(dim=1).clamp_min(1e-12).view(-1, 1, 1, 1)
                update = max_move * update / largest
            x = (x.detach() - update).clamp(0.0, 1.0)
    return x


def top_fraction_mean(maps: Tensor, fraction: float) -> Tensor:
    """Mean of the largest `fraction` of the values of each (N, H, W) map -> (N,)."""
    flat = maps.flatten(1)
    k = max(1, round(fraction * flat.shape[1]))
    return flat.topk(k, dim=1).values.mean(dim=1)


class VaeProjection(Vae):
    """The plain VAE, trained the same way; only its prediction projects the input first."""

    key = "vae_projection"
    Params = Params
    presets: ClassVar = {
        "smoke": {"latent_dim": 8, "width": 8, "epochs": 1, "batch_size": 8, "steps": 2},
        "cpu": {"latent_dim": 64, "width": 16, "epochs": 40, "batch_size": 32, "steps": 20},
        "paper": {"latent_dim": 25, "width": 32, "epochs": 300, "batch_size": 128, "lr": 1e-4, "steps": 100},
    }

    def predict(self, images: Tensor) -> Prediction:
        p = self.params
        x0 = images.to(self.device).float()  # (N, C, H, W)
        # Full precision: the projection takes many small gradient steps on the input.
        projection = project(self.model, x0, p.steps, p.step_size, p.lam)
        diff = (x0 - projection).abs().mean(dim=1)  # (N, H, W)
        score = diff.flatten(1).mean(dim=1) if p.score == "mean" else top_fraction_mean(diff, p.topk)
        with torch.no_grad():
            mu = self.model.encode(x0)[0].float()
        return Prediction(score=score, anomaly_map=diff, embedding=mu, reconstruction=projection)
