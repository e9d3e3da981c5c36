"""Batched, seeded synthetic anomalies on image tensors: CutPaste and scar (Li et al., CVPR 2021,
https://arxiv.org/abs/2104.04015) and the small rotated, shifted, recoloured local patches of seed 004."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor


@dataclass(frozen=True)
class Patches:
    """One rectangular patch per image, in pixels: cut around `src`, rotated by `angle`, pasted around `dst`."""

    src: Tensor  # (B, 2) centre (x, y) of the cut
    dst: Tensor  # (B, 2) centre (x, y) where it is pasted
    size: Tensor  # (B, 2) width, height
    angle: Tensor  # (B,) radians, counter-clockwise


def uniform(n: int, low: float, high: float, generator: torch.Generator) -> Tensor:
    """(n,) floats uniform in [low, high) on the CPU."""
    return low + (high - low) * torch.rand(n, generator=generator)


def color_jitter(images: Tensor, strength: float, generator: torch.Generator) -> Tensor:
    """Random brightness, contrast, saturation and per-channel gain of up to +-`strength` per image, in [0, 1]."""
    b, c = images.shape[:2]

    def factor(spread: float) -> Tensor:
        return uniform(b, 1 - spread, 1 + spread, generator).to(images)[:, None, None, None]  # (B, 1, 1, 1)

    out = images * factor(strength)  # brightness
    mean = out.mean(dim=(1, 2, 3), keepdim=True)
    out = mean + (out - mean) * factor(strength)  # contrast
    if c == 3:
        gray = out.mean(dim=1, keepdim=True)
        out = gray + (out - gray) * factor(strength)  # saturation
        gain = uniform(b * c, 1 - strength / 2, 1 + strength / 2, generator).to(images).view(b, c, 1, 1)
        out = out * gain  # a small colour (hue-like) shift
    return out.clamp(0.0, 1.0)


def paste(images: Tensor, source: Tensor, patches: Patches) -> tuple[Tensor, Tensor]:
    """Paste rotated patches of `source` into `images` (both (B, C, H, W)); returns (pasted, mask (B, H, W))."""
    b, _, h, w = images.shape
    device = images.device
    src, dst = patches.src.to(device), patches.dst.to(device)  # (B, 2)
    half = patches.size.to(device) / 2  # (B, 2)
    cos, sin = patches.angle.to(device).cos()[:, None, None], patches.angle.to(device).sin()[:, None, None]
    ys, xs = torch.meshgrid(torch.arange(h, device=device), torch.arange(w, device=device), indexing="ij")
    dx = xs[None] - dst[:, 0, None, None]  # (B, H, W) offsets from the paste centre
    dy = ys[None] - dst[:, 1, None, None]
    u = cos * dx + sin * dy  # the offset in the patch's own (unrotated) frame
    v = -sin * dx + cos * dy
    mask = (u.abs() <= half[:, 0, None, None]) & (v.abs() <= half[:, 1, None, None])  # (B, H, W)
    sx = src[:, 0, None, None] + u  # where each pasted pixel comes from in `source`
    sy = src[:, 1, None, None] + v
    grid = torch.stack((sx / max(w - 1, 1) * 2 - 1, sy / max(h - 1, 1) * 2 - 1), dim=-1)  # (B, H, W, 2)
    sampled = F.grid_sample(
        source, grid.to(source.dtype), mode="bilinear", padding_mode="border", align_corners=True
    )
    return torch.where(mask[:, None], sampled, images), mask.to(images.dtype)


def _centres(n: int, size: Tensor, h: int, w: int, generator: torch.Generator) -> Tensor:
    """(n, 2) centres that keep boxes of `size` (n, 2) inside an h x w image."""
    x = size[:, 0] / 2 + torch.rand(n, generator=generator) * (w - size[:, 0]).clamp_min(0)
    y = size[:, 1] / 2 + torch.rand(n, generator=generator) * (h - size[:, 1]).clamp_min(0)
    return torch.stack((x, y), dim=1)


def cutpaste_patches(n: int, h: int, w: int, generator: torch.Generator) -> Patches:
    """CutPaste boxes: 2-15 % of the area, aspect ratio in [0.3, 3.3] (log-uniform), pasted anywhere."""
    area = uniform(n, 0.02, 0.15, generator) * h * w
    aspect = torch.exp(uniform(n, math.log(0.3), math.log(1 / 0.3), generator))
    size = torch.stack(
        ((area * aspect).sqrt().clamp(1, w - 1), (area / aspect).sqrt().clamp(1, h - 1)), dim=1
    )
    return Patches(
        _centres(n, size, h, w, generator), _centres(n, size, h, w, generator), size, torch.zeros(n)
    )


def scar_patches(n: int, h: int, w: int, generator: torch.Generator) -> Patches:
    """CutPaste-scar: thin long boxes (2-16 x 10-25 px at 256 px, scaled), rotated by -45..45 degrees."""
    scale = min(h, w) / 256
    size = torch.stack((uniform(n, 2, 16, generator) * scale, uniform(n, 10, 25, generator) * scale), dim=1)
    size = size.clamp_min(1.0)
    angle = uniform(n, -math.pi / 4, math.pi / 4, generator)
    return Patches(_centres(n, size, h, w, generator), _centres(n, size, h, w, generator), size, angle)


def local_patches(
    n: int,
    h: int,
    w: int,
    generator: torch.Generator,
    area: tuple[float, float] = (0.02, 0.08),
    max_angle_deg: float = 15.0,
    max_shift: float = 0.03,
) -> Patches:
    """Seed 004's local patches: `area` fraction of the image, aspect in [0.5, 2], rotated by up to
    `max_angle_deg`, pasted back shifted by up to `max_shift` x image size (at least 1 px)."""
    pixels = uniform(n, area[0], area[1], generator) * h * w
    aspect = torch.exp(uniform(n, math.log(0.5), math.log(2.0), generator))
    size = torch.stack(
        ((pixels * aspect).sqrt().clamp(1, w - 1), (pixels / aspect).sqrt().clamp(1, h - 1)), dim=1
    )
    src = _centres(n, size, h, w, generator)
    reach = max(1.0, max_shift * min(h, w))
    shift = torch.stack((uniform(n, -reach, reach, generator), uniform(n, -reach, reach, generator)), dim=1)
    angle = uniform(n, -1.0, 1.0, generator) * math.radians(max_angle_deg)
    return Patches(src, src + shift, size, angle)


def cutpaste(images: Tensor, generator: torch.Generator, jitter: float = 0.1) -> tuple[Tensor, Tensor]:
    """CutPaste each image of (B, C, H, W): a colour-jittered box pasted elsewhere; returns (images, masks)."""
    b, _, h, w = images.shape
    return paste(images, color_jitter(images, jitter, generator), cutpaste_patches(b, h, w, generator))


def scar(images: Tensor, generator: torch.Generator, jitter: float = 0.1) -> tuple[Tensor, Tensor]:
    """CutPaste-scar each image: a thin, rotated, colour-jittered strip pasted elsewhere; returns (images, masks)."""
    b, _, h, w = images.shape
    return paste(images, color_jitter(images, jitter, generator), scar_patches(b, h, w, generator))
