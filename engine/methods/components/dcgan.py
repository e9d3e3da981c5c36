"""DCGAN blocks (Radford et al., ICLR 2016, https://arxiv.org/abs/1511.06434) for any C and any H=W that is a
multiple of 16 from 32 to 256: four stride-2 stages between the image and an (H/16, H/16) feature map."""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor, nn

STAGES = 4  # stride-2 stages: the last feature map is H/16 a side (2 at 32 px, 8 at 128 px, 16 at 256 px)


def feature_size(image_size: int) -> int:
    """Side of the last conv feature map for `image_size`, or a ValueError naming the valid sizes."""
    if image_size % 16 or not 32 <= image_size <= 256:
        raise ValueError(f"image size {image_size} is not supported; choose a multiple of 16 from 32 to 256")
    return image_size // 2**STAGES


def init_dcgan_weights(module: nn.Module) -> None:
    """DCGAN initialisation: conv weights ~ N(0, 0.02), BatchNorm scale ~ N(1, 0.02) and zero shift."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d | nn.ConvTranspose2d):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


def _down(c_in: int, c_out: int, batch_norm: bool) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 4, stride=2, padding=1, bias=not batch_norm),
        nn.BatchNorm2d(c_out) if batch_norm else nn.Identity(),
        nn.LeakyReLU(0.2),
    )


def _up(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.ConvTranspose2d(c_in, c_out, 4, stride=2, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(),
    )


def _widths(width: int) -> list[int]:
    return [width * 2**i for i in range(STAGES)]  # width, 2w, 4w, 8w


class ConvStack(nn.Module):
    """(B, C, H, W) -> the activations of each of the four stride-2 stages; the first has no BatchNorm."""

    def __init__(self, channels: int, image_size: int, width: int) -> None:
        super().__init__()
        feature_size(image_size)
        widths = _widths(width)
        c_ins = [channels, *widths[:-1]]
        self.stages = nn.ModuleList(
            _down(a, b, i > 0) for i, (a, b) in enumerate(zip(c_ins, widths, strict=True))
        )

    def forward(self, x: Tensor) -> list[Tensor]:
        features = []
        for stage in self.stages:
            x = stage(x)
            features.append(x)
        return features  # [(B, w, H/2, W/2), ..., (B, 8w, H/16, W/16)]


class Generator(nn.Module):
    """z (B, Z) -> image (B, C, H, W) in [0, 1]: a transposed conv to (8w, H/16, H/16), then x2 upsamplings."""

    def __init__(self, latent_dim: int, channels: int, image_size: int, width: int) -> None:
        super().__init__()
        f = feature_size(image_size)
        widths = _widths(width)[::-1]  # 8w, 4w, 2w, w
        self.project = nn.Sequential(
            nn.ConvTranspose2d(latent_dim, widths[0], f, bias=False), nn.BatchNorm2d(widths[0]), nn.ReLU()
        )
        self.stages = nn.Sequential(*(_up(a, b) for a, b in zip(widths[:-1], widths[1:], strict=True)))
        self.out = nn.ConvTranspose2d(widths[-1], channels, 4, stride=2, padding=1)
        init_dcgan_weights(self)

    def forward(self, z: Tensor) -> Tensor:
        h = self.project(z[:, :, None, None])  # (B, 8w, f, f)
        return torch.sigmoid(self.out(self.stages(h)))  # (B, C, H, W)


class DiscriminatorOutput(NamedTuple):
    logit: Tensor  # (B,) real (> 0) vs generated (< 0)
    features: list[Tensor]  # activations of each conv stage, shallow to deep
    last_conv: Tensor  # (B, 8w, H/16, W/16) = features[-1], the default Grad-CAM and feature-matching layer


class Discriminator(nn.Module):
    """image (B, C, H, W) -> real/fake logit plus its intermediate conv activations."""

    def __init__(self, channels: int, image_size: int, width: int) -> None:
        super().__init__()
        self.convs = ConvStack(channels, image_size, width)
        self.head = nn.Conv2d(width * 2 ** (STAGES - 1), 1, feature_size(image_size))
        init_dcgan_weights(self)

    def forward(self, x: Tensor) -> DiscriminatorOutput:
        features = self.convs(x)
        logit = self.head(features[-1]).flatten()  # (B,)
        return DiscriminatorOutput(logit, features, features[-1])


class Encoder(nn.Module):
    """image (B, C, H, W) -> Gaussian posterior (mu, logvar), each (B, Z): the discriminator's conv stack."""

    def __init__(self, channels: int, image_size: int, width: int, latent_dim: int) -> None:
        super().__init__()
        self.convs = ConvStack(channels, image_size, width)
        self.head = nn.Conv2d(width * 2 ** (STAGES - 1), 2 * latent_dim, feature_size(image_size))
        init_dcgan_weights(self)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        h = self.head(self.convs(x)[-1]).flatten(1)  # (B, 2Z)
        mu, logvar = h.chunk(2, dim=1)
        return mu, logvar.clamp(-10.0, 10.0)
