"""Grad-CAM (Selvaraju et al., ICCV 2017, https://arxiv.org/abs/1610.02391) on any conv activation."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def grad_cam(
    activations: Tensor, target: Tensor, size: tuple[int, int], retain_graph: bool = False
) -> Tensor:
    """Class activation map of `target` (N,) w.r.t. `activations` (N, K, h, w) -> (N, H, W) in [0, 1].

    `activations` must be part of the graph that produced `target`. Channel weights are the spatial mean
    of the gradients; the weighted sum is rectified, upsampled to `size` and scaled to max 1 per image.
    """
    grads = torch.autograd.grad(target.sum(), activations, retain_graph=retain_graph)[0]  # (N, K, h, w)
    weights = grads.mean(dim=(2, 3), keepdim=True)  # (N, K, 1, 1)
    cam = F.relu((weights * activations).sum(dim=1, keepdim=True))  # (N, 1, h, w)
    cam = F.interpolate(cam.float(), size=size, mode="bilinear", align_corners=False)[:, 0]  # (N, H, W)
    peak = cam.flatten(1).amax(dim=1).clamp_min(1e-12)[:, None, None]
    return (cam / peak).detach()
