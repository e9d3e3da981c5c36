"""Iterative energy-based projection on a normal data manifold (Dehaene et al., ICLR 2020,
https://arxiv.org/abs/2002.03734): move the input down the VAE energy until it looks normal; the anomaly map
is the difference between the input and its projection."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

import torch
from torch import Tensor

from engine.methods.params import check_choices, knob
from engine.methods.prediction import Prediction
from engine.methods.vae import ConvVAE, Vae, vae_terms


@dataclass(frozen=True)
class Params:
    steps: int = knob(20, range=(0, 10_000))
    step_size: float = knob(
        1.0,
        "alpha; the step is also weighted by the squared reconstruction error",
        range=(0.0, 100.0),
    )
    step_rule: Literal["paper", "calibrated"] = knob(
        "paper",
        '"paper": alpha as given; "calibrated": alpha rescaled after fit so that on the training images '
        "the first step's largest pixel move is `move` (median over images): one step size for data whose"
        " errors differ by orders of magnitude",
    )
    backtrack: int = knob(
        0,
        "energy checks per step: alpha halves after each failed one, the step is dropped after the last "
        "(0 = the seed: every step is taken)",
        range=(0, 30),
    )
    move: float = knob(0.05, range=(1e-4, 1.0))
    lam: float = knob(
        0.05,
        "lambda of the L1 term that keeps the projection near the input",
        range=(0.0, 1000.0),
    )
    kl_weight: float = knob(
        0.0,
        "weight of KL(q(z|x) || N(0, I)) in the energy: 0 = the seed's reconstruction-only energy, 1 = "
        "the whole negative ELBO, which the seed sets aside after Matsubara et al.",
        range=(0.0, 10.0),
    )
    score: Literal["mean", "topk"] = knob(
        "topk",
        '"mean" of the map | "topk": mean of its largest `topk` fraction of pixels',
    )
    topk: float = knob(0.02, range=(1e-4, 1.0))
    latent_dim: int = knob(64, range=(1, 4096))
    width: int = knob(16, "channels of the first conv stage, doubled per stage up to 256", range=(1, 256))
    beta: float = knob(1.0, "weight of the KL term in training", range=(0.0, 1000.0))
    epochs: int = knob(40, range=(1, 10_000))
    batch_size: int = knob(32, range=(1, 1024))
    lr: float = knob(1e-3, range=(1e-8, 10.0))

    def __post_init__(self) -> None:
        check_choices(self, "vae_projection")
        if not 0.0 < self.move <= 1.0:
            raise ValueError(f"move must lie in (0, 1] (pixel intensity), got {self.move}")
        if not 0.0 < self.topk <= 1.0:
            raise ValueError(f"topk must lie in (0, 1], got {self.topk}")


def energy_of(
    model: ConvVAE, x: Tensor, x0: Tensor, lam: float, kl_weight: float = 0.0
) -> tuple[Tensor, Tensor]:
    """E(x) = L_r(x) + kl_weight * KL(q(z|x) || N(0, I)) + lam * ||x - x0||_1 per image (N,), and the
    reconstruction; L_r is the sum of squared errors, decoding z = mu."""
    recon, mu, logvar = model(x)
    l_r, kl = vae_terms(x, recon, mu, logvar)
    energy = l_r + lam * (x - x0).abs().flatten(1).sum(dim=1)
    return (energy + kl_weight * kl if kl_weight else energy), recon.float()


def step_direction(
    model: ConvVAE, x: Tensor, x0: Tensor, lam: float, kl_weight: float = 0.0
) -> tuple[Tensor, Tensor]:
    """grad E(x) * (x - f(x))^2 (N, C, H, W), the seed's update before its step size, and E(x) (N,)."""
    x = x.detach().requires_grad_(True)
    energy, recon = energy_of(model, x, x0, lam, kl_weight)
    (grad,) = torch.autograd.grad(energy.sum(), x)
    return grad * (x - recon).detach() ** 2, energy.detach()  # focus on badly reconstructed pixels


def project(
    model: ConvVAE,
    x0: Tensor,
    steps: int,
    step_size: float,
    lam: float,
    max_move: float | None = None,
    backtrack: int = 0,
    kl_weight: float = 0.0,
) -> Tensor:
    """x_{t+1} = clip(x_t - alpha * grad E(x_t) * (x_t - f(x_t))^2), E(x) = L_r(x) + lam * ||x - x0||_1
    (+ kl_weight * KL, see `energy_of`).

    With `max_move` the update is instead scaled per image so its largest pixel move per step is `max_move`
    (a study of the step rule, benchmarks/projection_steps.py; not the seed's rule). With `backtrack` = k > 0
    each step's energy is checked up to k times: an image whose energy would rise is retried at half its
    alpha (at most k - 1 halvings), and after the k-th failed check it stays put for this step; the halved
    alpha is kept for its later steps."""
    if backtrack and max_move is not None:
        raise ValueError("project: backtrack halves alpha, which max_move normalises away; use one of them")
    model.eval()
    x = x0.detach().clone()
    alpha = torch.full((x.shape[0], 1, 1, 1), float(step_size), device=x.device)  # per image
    with torch.enable_grad():
        for _ in range(steps):
            direction, energy = step_direction(model, x, x0, lam, kl_weight)
            update = alpha * direction
            if max_move is not None:
                largest = update.abs().flatten(1).amax(dim=1).clamp_min(1e-12).view(-1, 1, 1, 1)
                update = max_move * update / largest
            candidate = (x.detach() - update).clamp(0.0, 1.0)
            for check in range(1, backtrack + 1):
                with torch.no_grad():
                    worse = (energy_of(model, candidate, x0, lam, kl_weight)[0] > energy).view(-1, 1, 1, 1)
                if not worse.any():
                    break
                if check == backtrack:  # the last check: those images keep x for this step
                    candidate = torch.where(worse, x.detach(), candidate)
                else:
                    alpha = torch.where(worse, alpha / 2, alpha)
                    candidate = (x.detach() - alpha * direction).clamp(0.0, 1.0)
            x = candidate
    return x


def calibrated_scale(
    model: ConvVAE, images: Tensor, step_size: float, lam: float, move: float, kl_weight: float = 0.0
) -> Tensor:
    """Factor on `step_size` that makes the first step's largest pixel move `move` on the median image."""
    x0 = images.float()
    model.eval()
    with torch.enable_grad():
        direction = step_size * step_direction(model, x0, x0, lam, kl_weight)[0]
    largest = direction.abs().flatten(1).amax(dim=1).median().clamp_min(1e-12)
    return (move / largest).detach().cpu()


def top_fraction_mean(maps: Tensor, fraction: float) -> Tensor:
    """Mean of the largest `fraction` of the values of each (N, H, W) map -> (N,)."""
    flat = maps.flatten(1)
    k = max(1, round(fraction * flat.shape[1]))
    return flat.topk(k, dim=1).values.mean(dim=1)


class VaeProjection(Vae):
    """The plain VAE, trained the same way; only its prediction projects the input first."""

    key = "vae_projection"
    description: ClassVar[str] = (
        "moves each input down the VAE energy until it looks normal; map = what changed (Dehaene et al. 2020)"
    )
    Params = Params
    presets: ClassVar = {
        "smoke": {"latent_dim": 8, "width": 8, "epochs": 1, "batch_size": 8, "steps": 2},
        "cpu": {"latent_dim": 64, "width": 16, "epochs": 40, "batch_size": 32, "steps": 20},
        "paper": {"latent_dim": 25, "width": 32, "epochs": 300, "batch_size": 128, "lr": 1e-4, "steps": 100},
    }

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.step_scale = torch.ones(())  # factor on alpha; set by fit under step_rule "calibrated"

    def fit(self, train, labeled_anomalies=None, on_epoch=None) -> None:
        super().fit(train, labeled_anomalies, on_epoch)
        p = self.params
        if p.step_rule == "calibrated":
            first = next(iter(train)).to(self.device)
            self.step_scale = calibrated_scale(self.model, first, p.step_size, p.lam, p.move, p.kl_weight)
            self.notes.append(
                f"step calibrated on the training images: alpha x {self.step_scale.item():.3g} moves the "
                f"median image's largest pixel by {self.params.move:g} in the first step"
            )

    def predict(self, images: Tensor) -> Prediction:
        p = self.params
        x0 = images.to(self.device).float()  # (N, C, H, W)
        # Full precision: the projection takes many small gradient steps on the input.
        alpha = p.step_size * float(self.step_scale)
        projection = project(
            self.model, x0, p.steps, alpha, p.lam, backtrack=p.backtrack, kl_weight=p.kl_weight
        )
        diff = (x0 - projection).abs().mean(dim=1)  # (N, H, W)
        score = diff.flatten(1).mean(dim=1) if p.score == "mean" else top_fraction_mean(diff, p.topk)
        with torch.no_grad():
            mu = self.model.encode(x0)[0].float()
        return Prediction(score=score, anomaly_map=diff, embedding=mu, reconstruction=projection)
