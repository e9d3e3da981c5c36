"""AnoGAN (Schlegl et al., IPMI 2017, https://arxiv.org/abs/1703.05921): a DCGAN trained on normal images;
at test, gradient descent on the latent code finds the generated image closest to each input."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import DataLoader

from engine.config import DeviceInfo
from engine.methods.base import BaseMethod, embedding_centroid
from engine.methods.components.dcgan import Discriminator, Generator, feature_size
from engine.methods.params import knob
from engine.methods.prediction import Prediction
from engine.methods.progress import OnEpoch
from engine.methods.training import StepLog, Updater, train_epochs

SEARCH_GRAD_SCALE = 1024.0  # keeps fp16 gradients of the latent search clear of underflow; Adam ignores it


@dataclass(frozen=True)
class Params:
    latent_dim: int = knob(100, range=(1, 4096))
    width: int = knob(64, "channels of the first conv stage (DCGAN's ngf = ndf)", range=(1, 256))
    epochs: int = knob(25, range=(1, 10_000))
    batch_size: int = knob(64, range=(1, 1024))
    lr: float = knob(2e-4, range=(1e-8, 10.0))
    beta1: float = knob(0.5, "Adam momentum, as in DCGAN", range=(0.0, 0.9999))
    search_steps: int = knob(500, "Adam steps on z per test batch (Γ in the paper)", range=(0, 100_000))
    search_lr: float = knob(0.05, range=(1e-8, 100.0))
    lam: float = knob(
        0.1,
        "weight of the discrimination loss against the residual loss (λ in the paper)",
        range=(0.0, 1000.0),
    )
    centroid_images: int = knob(
        64,
        "training images whose codes are searched for the t-SNE centroid",
        range=(1, 100_000),
    )

    def validate(self) -> None:
        if not 0.0 <= self.lam <= 1.0:
            raise ValueError(f"lam must lie in [0, 1], got {self.lam}")
        for name in ("latent_dim", "width", "epochs", "batch_size", "centroid_images"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.search_steps < 0:
            raise ValueError(f"search_steps must be >= 0, got {self.search_steps}")


def anogan_loss(x: Tensor, fake: Tensor, x_features: Tensor, fake_features: Tensor, lam: float) -> Tensor:
    """Per-image loss of eq. (5), (N,): (1 - λ) mean |x - G(z)| + λ mean |f(x) - f(G(z))| over D features f."""
    residual = (x.float() - fake.float()).abs().flatten(1).mean(dim=1)
    discrimination = (x_features.float() - fake_features.float()).abs().flatten(1).mean(dim=1)
    return (1.0 - lam) * residual + lam * discrimination


class LatentSearch(NamedTuple):
    z: Tensor  # (N, Z) optimised codes
    reconstruction: Tensor  # (N, C, H, W) G(z)
    loss: Tensor  # (N,) anogan_loss at z


class AnoGan(BaseMethod):
    key = "anogan"
    description: ClassVar[str] = (
        "a DCGAN of normal images; searches the latent code closest to each input (Schlegl et al. 2017)"
    )
    Params = Params
    presets = {
        "smoke": {
            "latent_dim": 16,
            "width": 8,
            "epochs": 1,
            "batch_size": 8,
            "search_steps": 3,
            "centroid_images": 8,
        },
        "cpu": {
            "latent_dim": 64,
            "width": 16,
            "epochs": 30,
            "batch_size": 32,
            "search_steps": 50,
            "search_lr": 0.1,
            "centroid_images": 32,
        },
        "paper": {},
    }

    def __init__(
        self,
        params: Params,
        image_shape: tuple[int, int, int],
        device: DeviceInfo | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__(params, image_shape, device, seed)
        channels, size, _ = self.image_shape
        feature_size(size)
        torch.manual_seed(seed)
        self.generator = Generator(params.latent_dim, channels, size, params.width).to(self.device)
        self.discriminator = Discriminator(channels, size, params.width).to(self.device)

    def fit(
        self, train: DataLoader, labeled_anomalies: DataLoader | None = None, on_epoch: OnEpoch | None = None
    ) -> None:
        p = self.params
        torch.manual_seed(self.seed)
        g, d = self.generator, self.discriminator
        mixed = self.device_info.mixed_precision
        update_g = Updater(torch.optim.Adam(g.parameters(), lr=p.lr, betas=(p.beta1, 0.999)), mixed)
        update_d = Updater(torch.optim.Adam(d.parameters(), lr=p.lr, betas=(p.beta1, 0.999)), mixed)

        def step(x: Tensor) -> StepLog:  # (B, C, H, W); D then G, as in DCGAN
            z = torch.randn(x.shape[0], p.latent_dim, device=self.device)
            with self.autocast():
                fake = g(z)  # (B, C, H, W)
                real_logit = d(x).logit
                fake_logit = d(fake.detach()).logit
                loss_d = F.binary_cross_entropy_with_logits(
                    real_logit, torch.ones_like(real_logit)
                ) + F.binary_cross_entropy_with_logits(fake_logit, torch.zeros_like(fake_logit))
            update_d.update(loss_d)
            with self.autocast():
                gen_logit = d(fake).logit
                loss_g = F.binary_cross_entropy_with_logits(gen_logit, torch.ones_like(gen_logit))
            update_g.update(loss_g)
            losses = {"loss_d": loss_d.item(), "loss_g": loss_g.item()}
            return StepLog(losses | {"loss": losses["loss_d"] + losses["loss_g"]})

        train_epochs(train, step, p.epochs, [g, d], self.device, on_epoch)
        self.centroid = embedding_centroid(self.search_latent(_first_images(train, p.centroid_images)).z)
        self.notes.append(
            f"centroid: mean searched z of the first {p.centroid_images} training images "
            f"({p.search_steps} search steps); embedding = searched z"
        )

    def search_latent(self, images: Tensor, steps: int | None = None) -> LatentSearch:
        """Adam on one code per image, all at once, each from the same seeded N(0, I) start (so an image's result
        does not depend on the other images in its batch, nor on its place there); `steps` defaults to
        search_steps."""
        p = self.params
        steps = p.search_steps if steps is None else steps
        g, d = self.generator, self.discriminator
        g.eval()
        d.eval()
        x = images.to(self.device)  # (N, C, H, W)
        start = torch.randn(1, p.latent_dim, generator=torch.Generator().manual_seed(self.seed))  # (1, Z)
        z = start.expand(x.shape[0], -1).clone().to(self.device).requires_grad_(True)  # (N, Z)
        optimizer = torch.optim.Adam([z], lr=p.search_lr)
        with torch.no_grad(), self.autocast():
            x_features = d(x).last_conv  # (N, 8w, H/16, W/16)
        with torch.enable_grad():
            for _ in range(steps):
                with self.autocast():
                    fake = g(z)
                    loss = anogan_loss(x, fake, x_features, d(fake).last_conv, p.lam)  # (N,)
                (z.grad,) = torch.autograd.grad(loss.sum() * SEARCH_GRAD_SCALE, z)
                optimizer.step()
        with torch.no_grad(), self.autocast():
            fake = g(z)
            loss = anogan_loss(x, fake, x_features, d(fake).last_conv, p.lam)
        return LatentSearch(z.detach().float(), fake.float(), loss.float())

    def predict(self, images: Tensor) -> Prediction:
        found = self.search_latent(images)
        x = images.to(self.device).float()
        error = (x - found.reconstruction).abs().mean(dim=1)  # (N, H, W)
        return Prediction(
            score=found.loss, anomaly_map=error, embedding=found.z, reconstruction=found.reconstruction
        )


def _first_images(loader: DataLoader, count: int) -> Tensor:
    """Up to `count` images from the start of `loader`, as one (N, C, H, W) tensor."""
    taken: list[Tensor] = []
    total = 0
    for batch in loader:
        taken.append(batch[: count - total])
        total += taken[-1].shape[0]
        if total >= count:
            break
    return torch.cat(taken)
