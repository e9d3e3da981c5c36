"""Conv encoder (image -> feature map -> flat vector) and its mirrored decoder, for any C and any H=W
that is a multiple of 16 from 32 to 256. Shared by the autoencoder and VAE family of methods."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

MIN_FEATURE_SIZE = 4  # stop halving at this side length (or at an odd one)


@dataclass(frozen=True)
class ConvLayout:
    """Channel widths per stage and the side of the last feature map for one image size."""

    widths: tuple[int, ...]  # output channels of each strided stage
    feature_size: int  # side of the (widths[-1], f, f) bottleneck feature map

    @property
    def feature_dim(self) -> int:
        return self.widths[-1] * self.feature_size**2


def conv_layout(image_size: int, width: int = 32, max_width: int = 256) -> ConvLayout:
    """Halve `image_size` until it reaches 4 (or turns odd), doubling channels up to `max_width`."""
    if image_size % 16 or not 32 <= image_size <= 256:
        raise ValueError(f"image size {image_size} is not supported; choose a multiple of 16 from 32 to 256")
    widths, size = [], image_size
    while size > MIN_FEATURE_SIZE and size % 2 == 0:
        widths.append(min(width * 2 ** len(widths), max_width))
        size //= 2
    return ConvLayout(tuple(widths), size)


def _down(c_in: int, c_out: int, bias: bool) -> nn.Sequential:
    # With bias=False, BatchNorm has no affine shift either (Deep SVDD needs a bias-free network).
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 4, stride=2, padding=1, bias=bias),
        nn.BatchNorm2d(c_out, affine=bias),
        nn.LeakyReLU(0.2, inplace=True),
    )


def _up(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.ConvTranspose2d(c_in, c_out, 4, stride=2, padding=1),
        nn.BatchNorm2d(c_out),
        nn.LeakyReLU(0.2, inplace=True),
    )


class ConvEncoder(nn.Module):
    """(B, C, H, W) -> (B, out_dim) through strided conv stages and one linear layer."""

    def __init__(
        self,
        in_channels: int,
        image_size: int,
        out_dim: int,
        width: int = 32,
        max_width: int = 256,
        bias: bool = True,
    ) -> None:
        super().__init__()
        self.layout = conv_layout(image_size, width, max_width)
        c_ins = (in_channels, *self.layout.widths[:-1])
        self.stages = nn.Sequential(
            *(_down(a, b, bias) for a, b in zip(c_ins, self.layout.widths, strict=True))
        )
        self.head = nn.Linear(self.layout.feature_dim, out_dim, bias=bias)

    def features(self, x: Tensor) -> Tensor:
        """(B, C, H, W) -> (B, K, f, f) bottleneck feature map."""
        return self.stages(x)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x).flatten(1))  # (B, out_dim)


class ConvDecoder(nn.Module):
    """(B, in_dim) -> (B, C, H, W) in [0, 1]: the mirror of `ConvEncoder` with a sigmoid output."""

    def __init__(
        self, in_dim: int, out_channels: int, image_size: int, width: int = 32, max_width: int = 256
    ) -> None:
        super().__init__()
        self.layout = conv_layout(image_size, width, max_width)
        widths = self.layout.widths[::-1]  # deepest first
        self.head = nn.Linear(in_dim, self.layout.feature_dim)
        self.stages = nn.Sequential(*(_up(a, b) for a, b in zip(widths[:-1], widths[1:], strict=True)))
        self.out = nn.ConvTranspose2d(widths[-1], out_channels, 4, stride=2, padding=1)

    def forward(self, z: Tensor) -> Tensor:
        f = self.layout.feature_size
        h = self.head(z).view(z.shape[0], self.layout.widths[-1], f, f)  # (B, K, f, f)
        return torch.sigmoid(self.out(self.stages(h)))  # (B, C, H, W)
