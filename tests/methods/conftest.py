"""Tiny seeded synthetic images for method tests: smooth stripes (normal), plus a bright square (anomalous)."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest
import torch
from torch import Tensor

ImageMaker = Callable[..., Tensor]


def stripes(n: int, channels: int = 1, size: int = 32, seed: int = 0, anomalous: bool = False) -> Tensor:
    """(n, channels, size, size) in [0, 1]: diagonal stripes with a random phase and a little noise; with
    `anomalous`, a bright size/4 square at a random place."""
    g = torch.Generator().manual_seed(seed)
    coords = torch.arange(size, dtype=torch.float32)
    ramp = coords[None, :] + coords[:, None]  # (H, W)
    phase = torch.rand(n, 1, 1, 1, generator=g) * 2 * math.pi
    tint = 0.8 + 0.2 * torch.rand(n, channels, 1, 1, generator=g)
    images = 0.5 + 0.3 * torch.sin(2 * math.pi * ramp / 8 + phase) * tint  # (n, C, H, W)
    images = images + 0.02 * torch.randn(n, channels, size, size, generator=g)
    if anomalous:
        side = size // 4
        for i in range(n):
            top, left = torch.randint(0, size - side, (2,), generator=g).tolist()
            images[i, :, top : top + side, left : left + side] = 1.0
    return images.clamp(0.0, 1.0)


@pytest.fixture(scope="session")
def make_images() -> ImageMaker:
    return stripes
