"""VAE-GAN (Larsen et al., ICML 2016, https://arxiv.org/abs/1512.09300) for anomaly detection with an optional
Grad-CAM attention of the discriminator on the error image (Kimura et al., seed 002, eq. (1)-(2))."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import DataLoader

from engine.config import DeviceInfo
from engine.methods.base import BaseMethod, embedding_centroid
from engine.methods.components.dcgan import STAGES, Discriminator, Encoder, Generator, feature_size
from engine.methods.components.gradcam import grad_cam
from engine.methods.params import check_choices, knob
from engine.methods.prediction import Prediction
from engine.methods.progress import OnEpoch
from engine.methods.training import StepLog, Updater, train_epochs


@dataclass(frozen=True)
class Params:
    latent_dim: int = knob(128, range=(1, 4096))
    width: int = knob(
        64,
        "channels of the first conv stage of encoder and discriminator (decoder mirrors it)",
        range=(1, 256),
    )
    epochs: int = knob(30, range=(1, 10_000))
    batch_size: int = knob(64, range=(1, 1024))
    lr: float = knob(3e-4, range=(1e-8, 10.0))
    beta1: float = knob(0.5, "Adam momentum, as in DCGAN", range=(0.0, 0.9999))
    prior_weight: float = knob(1.0, "λ of eq. (1) on KL(q(z|x) || p(z))", range=(0.0, 1000.0))
    feature_weight: float = knob(
        1e-2,
        "γ of Larsen et al.: L_feat against L_GAN in the decoder update",
        range=(0.0, 1000.0),
    )
    pixel_weight: float = knob(0.0, "optional pixel MSE next to L_feat (0 = the paper)", range=(0.0, 1000.0))
    attention: bool = knob(False, "weight the error image by the discriminator's Grad-CAM")
    attention_target: Literal["real", "fake"] = knob(
        "fake",
        'Grad-CAM of -logit (evidence against "normal"), or of the "real" logit',
    )
    feature_layer: int = knob(
        STAGES - 1,
        "discriminator conv stage (0 = H/2 ... 3 = H/16) whose activations L_feat matches, and that "
        "Grad-CAM explains",
        range=(0, STAGES - 1),
    )
    attention_layer: int = knob(STAGES - 1, range=(0, STAGES - 1))
    attention_score: Literal["mean", "per_attention"] = knob(
        "mean",
        'with attention: "mean" of attention x error over the image (the seed\'s product), or '
        '"per_attention": sum(attention x error) / sum(attention), the error per unit of attention',
    )
    per_ink: bool = knob(
        False,
        "divide the score by the reconstruction's mean intensity: a summed error grows with the amount of"
        " digit, so anomalies with less ink than the normal class look normal (vae's score=per_ink; not "
        "in the seed)",
    )

    def validate(self) -> None:
        check_choices(self, "vaegan")
        for name in ("latent_dim", "width", "epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("prior_weight", "feature_weight", "pixel_weight"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")


class VaeGanLosses(NamedTuple):
    prior: Tensor  # KL(q(z|x) || N(0, I)), summed over z, batch mean
    feat: Tensor  # 0.5 ||Dis_l(x) - Dis_l(x~)||^2, summed over features, batch mean
    pixel: Tensor  # 0.5 ||x - x~||^2, summed over pixels, batch mean
    gan_generator: Tensor  # -log D(x~) - log D(G(z_p)): non-saturating form of eq. (2) for the decoder


def kl_to_standard_normal(mu: Tensor, logvar: Tensor) -> Tensor:
    """KL(N(mu, exp(logvar)) || N(0, I)) per image, (N,)."""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(dim=1)


def half_squared_error(a: Tensor, b: Tensor) -> Tensor:
    """0.5 ||a - b||^2 per image, (N,): the Gaussian negative log-likelihood up to a constant."""
    return 0.5 * (a.float() - b.float()).pow(2).flatten(1).sum(dim=1)


def bce_logits(logit: Tensor, real: bool) -> Tensor:
    """Mean -log D (real) or -log(1 - D) (generated) from logits, numerically stable."""
    target = torch.ones_like(logit) if real else torch.zeros_like(logit)
    return F.binary_cross_entropy_with_logits(logit.float(), target)


class VaeGan(BaseMethod):
    key = "vaegan"
    description: ClassVar[str] = (
        "a VAE with a GAN discriminator, optionally its Grad-CAM attention on the error (Larsen et al. 2016)"
    )
    Params = Params
    presets = {
        "smoke": {"latent_dim": 16, "width": 8, "epochs": 1, "batch_size": 8},
        # lr 1e-3: the few hundred steps of a `cpu` run leave the reconstructions far from the input at
        # 1e-4 (summed squared error 590 against the VAE's 29 on noisy MNIST digit 1). Measured, image AUROC
        # 1e-4 -> 1e-3: noisy MNIST digit 1 0.37 -> 0.83, PIPED pa_bdp01_tl 0.50 -> 0.71.
        "cpu": {"latent_dim": 64, "width": 16, "epochs": 20, "batch_size": 32, "lr": 1e-3},
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
        self.encoder = Encoder(channels, size, params.width, params.latent_dim).to(self.device)
        self.decoder = Generator(params.latent_dim, channels, size, params.width).to(self.device)
        self.discriminator = Discriminator(channels, size, params.width).to(self.device)

    def fit(
        self, train: DataLoader, labeled_anomalies: DataLoader | None = None, on_epoch: OnEpoch | None = None
    ) -> None:
        p = self.params
        torch.manual_seed(self.seed)
        enc, dec, dis = self.encoder, self.decoder, self.discriminator
        betas = (p.beta1, 0.999)
        opt_enc = torch.optim.Adam(enc.parameters(), lr=p.lr, betas=betas)
        opt_dec = torch.optim.Adam(dec.parameters(), lr=p.lr, betas=betas)
        update_dis = Updater(
            torch.optim.Adam(dis.parameters(), lr=p.lr, betas=betas), self.device_info.mixed_precision
        )
        scaler = torch.amp.GradScaler("cuda", enabled=self.device_info.mixed_precision)  # encoder and decoder

        def step(x: Tensor) -> StepLog:  # (B, C, H, W)
            with self.autocast():
                mu, logvar = enc(x)  # (B, Z) each
                z = mu + torch.randn_like(mu) * (0.5 * logvar).exp()
                x_rec = dec(z)  # (B, C, H, W)
                x_prior = dec(torch.randn_like(mu))  # (B, C, H, W) from z_p ~ p(z)
                # D step: maximise eq. (2), i.e. minimise its binary cross-entropy.
                loss_dis = (
                    bce_logits(dis(x).logit, True)
                    + bce_logits(dis(x_rec.detach()).logit, False)
                    + bce_logits(dis(x_prior.detach()).logit, False)
                )
            update_dis.update(loss_dis)

            with self.autocast():
                with torch.no_grad():
                    real_features = dis(x).features[p.feature_layer]
                out_rec = dis(x_rec)
                losses = VaeGanLosses(
                    prior=kl_to_standard_normal(mu.float(), logvar.float()).mean(),
                    feat=half_squared_error(out_rec.features[p.feature_layer], real_features).mean(),
                    pixel=half_squared_error(x_rec, x).mean(),
                    gan_generator=bce_logits(out_rec.logit, True) + bce_logits(dis(x_prior).logit, True),
                )
            loss_enc = p.prior_weight * losses.prior + losses.feat + p.pixel_weight * losses.pixel
            loss_dec = p.feature_weight * losses.feat + losses.gan_generator + p.pixel_weight * losses.pixel
            # Each network gets the gradient of its own loss (Larsen et al., Algorithm 1); D is left alone.
            enc_params, dec_params = list(enc.parameters()), list(dec.parameters())
            enc_grads = torch.autograd.grad(scaler.scale(loss_enc), enc_params, retain_graph=True)
            dec_grads = torch.autograd.grad(scaler.scale(loss_dec), dec_params)
            for param, grad in zip(enc_params + dec_params, enc_grads + dec_grads, strict=True):
                param.grad = grad
            scaler.step(opt_enc)
            scaler.step(opt_dec)
            scaler.update()
            logged = {"loss_dis": loss_dis.item()} | {k: v.item() for k, v in losses._asdict().items()}
            logged["loss"] = (
                p.prior_weight * logged["prior"] + logged["feat"] + p.pixel_weight * logged["pixel"]
            )
            return StepLog(logged)

        train_epochs(train, step, p.epochs, [enc, dec, dis], self.device, on_epoch)
        self.centroid = embedding_centroid(torch.cat([self._encode_mean(batch) for batch in train]))
        self.notes.append(
            "embedding = encoder mean mu; attention = discriminator Grad-CAM, returned with attention on or off"
        )

    @torch.no_grad()
    def _encode_mean(self, images: Tensor) -> Tensor:
        self.encoder.eval()
        with self.autocast():
            mu, _ = self.encoder(images.to(self.device))
        return mu.float()

    def attention_map(self, images: Tensor) -> Tensor:
        """Grad-CAM (N, H, W) in [0, 1] of the discriminator's logit w.r.t. conv stage `attention_layer`.

        Where the rectified map is zero everywhere (no positive evidence), the image gets uniform attention 1.
        """
        self.discriminator.eval()
        with torch.enable_grad(), self.autocast():
            out = self.discriminator(images.to(self.device))
            target = out.logit if self.params.attention_target == "real" else -out.logit
            activations = out.features[self.params.attention_layer]
            cam = grad_cam(activations, target.float(), size=tuple(images.shape[-2:]))  # (N, H, W)
        empty = cam.flatten(1).amax(dim=1) == 0  # (N,)
        return torch.where(empty[:, None, None], torch.ones_like(cam), cam)

    def predict(self, images: Tensor) -> Prediction:
        x = images.to(self.device).float()  # (N, C, H, W)
        mu = self._encode_mean(x)  # (N, Z)
        self.decoder.eval()
        with torch.no_grad(), self.autocast():
            x_rec = self.decoder(mu).float()  # (N, C, H, W)
        error = (x - x_rec).abs().mean(dim=1)  # (N, H, W)
        cam = self.attention_map(x)  # (N, H, W)
        anomaly_map = cam * error if self.params.attention else error
        score = anomaly_map.flatten(1).mean(dim=1)
        if self.params.attention and self.params.attention_score == "per_attention":
            score = anomaly_map.flatten(1).sum(dim=1) / cam.flatten(1).sum(dim=1).clamp_min(1e-6)
        if self.params.per_ink:
            score = score / x_rec.flatten(1).mean(dim=1).clamp_min(1e-6)
        return Prediction(
            score=score,
            anomaly_map=anomaly_map,
            embedding=mu,
            reconstruction=x_rec,
            attention=cam,
        )
