"""Synthetic anomalies: pasting changes only the masked region, sizes follow the papers, seeds repeat."""

from __future__ import annotations

import math

import pytest
import torch

from engine.methods.components.pseudo_anomaly import (
    Patches,
    color_jitter,
    cutpaste,
    cutpaste_patches,
    local_patches,
    paste,
    scar,
    scar_patches,
)


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_paste_copies_an_axis_aligned_box_exactly() -> None:
    images = torch.rand(1, 3, 16, 16, generator=gen())
    source = torch.rand(1, 3, 16, 16, generator=gen(1))
    box = Patches(
        src=torch.tensor([[4.5, 4.5]]),
        dst=torch.tensor([[10.5, 9.5]]),
        size=torch.tensor([[4.0, 4.0]]),
        angle=torch.zeros(1),
    )
    out, mask = paste(images, source, box)
    assert mask.sum() == 16
    torch.testing.assert_close(out[0, :, 8:12, 9:13], source[0, :, 3:7, 3:7])
    torch.testing.assert_close(out * (1 - mask[:, None]), images * (1 - mask[:, None]))


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("augment", [cutpaste, scar])
def test_augmentations_change_only_inside_their_masks(augment, channels: int) -> None:
    images = torch.rand(8, channels, 64, 64, generator=gen())
    out, mask = augment(images, gen(1))
    assert out.shape == images.shape and mask.shape == (8, 64, 64)
    assert ((out - images).abs().sum(dim=1) > 0).le(mask.bool()).all()  # changes only where masked
    assert (mask.flatten(1).sum(dim=1) > 0).all()
    assert out.min() >= 0 and out.max() <= 1


def test_augmentations_repeat_with_the_seed() -> None:
    images = torch.rand(4, 3, 32, 32, generator=gen())
    torch.testing.assert_close(cutpaste(images, gen(5))[0], cutpaste(images, gen(5))[0])
    assert not torch.equal(cutpaste(images, gen(5))[0], cutpaste(images, gen(6))[0])


def test_patch_sizes_follow_the_papers() -> None:
    n, size = 500, 256
    cp = cutpaste_patches(n, size, size, gen())
    area = cp.size.prod(dim=1) / size**2
    assert area.min() >= 0.019 and area.max() <= 0.151
    sc = scar_patches(n, size, size, gen())
    assert sc.size[:, 0].min() >= 2 and sc.size[:, 0].max() <= 16
    assert sc.size[:, 1].min() >= 10 and sc.size[:, 1].max() <= 25
    assert sc.angle.abs().max() <= math.pi / 4
    local = local_patches(n, 128, 128, gen(), area=(0.02, 0.08), max_angle_deg=15, max_shift=0.03)
    area = local.size.prod(dim=1) / 128**2
    assert area.min() >= 0.019 and area.max() <= 0.081
    assert local.angle.abs().max() <= math.radians(15) + 1e-6
    assert (local.dst - local.src).abs().max() <= 0.03 * 128 + 1e-4


def test_color_jitter_keeps_range_and_grayscale() -> None:
    gray = torch.rand(4, 1, 8, 8, generator=gen())
    out = color_jitter(gray, 0.5, gen(1))
    assert out.shape == gray.shape and out.min() >= 0 and out.max() <= 1
    assert not torch.equal(out, gray)
