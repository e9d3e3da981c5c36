"""Gaussian density of feature vectors and Mahalanobis distances: one Gaussian (CutPaste, SimCLR) or one per
position, batched (PaDiM)."""

from __future__ import annotations

import kornia
import torch
import torch.nn.functional as F
from sklearn.covariance import LedoitWolf
from torch import Tensor


class RunningMoments:
    """Streaming mean and covariance of (B, ..., D) feature batches, kept in float64 per leading position."""

    def __init__(self) -> None:
        self.count = 0
        self.sum: Tensor | None = None  # (..., D)
        self.outer: Tensor | None = None  # (..., D, D)

    def update(self, features: Tensor) -> None:
        x = features.double()  # (B, ..., D)
        batch = x.movedim(0, -2)  # (..., B, D)
        outer = batch.transpose(-1, -2) @ batch  # (..., D, D)
        if self.sum is None or self.outer is None:
            self.sum, self.outer = x.sum(dim=0), outer
        else:
            self.sum += x.sum(dim=0)
            self.outer += outer
        self.count += x.shape[0]

    def mean_cov(self) -> tuple[Tensor, Tensor]:
        """Mean (..., D) and unbiased covariance (..., D, D), both float64."""
        if self.sum is None or self.outer is None or self.count < 2:
            raise ValueError(f"need at least 2 feature vectors for a covariance, got {self.count}")
        n, d = self.count, self.sum.shape[-1]
        mean = self.sum / n
        # (outer - sum sum^T / n) / (n - 1) in one batched call: the broadcast form made three temporaries as
        # large as the covariances (3,136 x 176 x 176 float64 = 777 MB each for PaDiM at 224 px) and took 5x longer
        flat_sum = self.sum.reshape(-1, d)
        cov = torch.baddbmm(
            self.outer.reshape(-1, d, d),
            flat_sum.unsqueeze(-1),
            flat_sum.unsqueeze(-2),
            beta=1.0 / (n - 1),
            alpha=-1.0 / (n * (n - 1)),
        )
        return mean, cov.reshape(self.outer.shape)


def regularized_precision(cov: Tensor, ridge: float, chunk: int = 256) -> Tensor:
    """Inverse of (..., D, D) covariances plus `ridge` * I, via Cholesky in float64, returned as float32.

    `cholesky_inverse` of S = L L^T (LAPACK potri), not a batched `linalg.inv`: it stays fast when the CPU is
    oversubscribed, the result is symmetric positive definite by construction, and torch 2.14.1's batched
    `linalg.inv` fails on CPU once the thread count has been set explicitly (see benchmarks/peers.py). It is
    faster than forming L^-1 and (L^-1)^T L^-1, and done `chunk` matrices at a time it keeps the float64
    temporaries small (PaDiM at 224 px, 3,136 positions: 1.7 s against 4.4 s).
    """
    d = cov.shape[-1]
    eye = torch.eye(d, dtype=torch.float64, device=cov.device)
    flat = cov.reshape(-1, d, d)
    out = torch.empty(flat.shape, dtype=torch.float32, device=cov.device)
    for start in range(
        0, flat.shape[0], chunk
    ):  # float64 temporaries of `chunk` matrices, not of all of them
        lower = torch.linalg.cholesky(flat[start : start + chunk].double() + ridge * eye)
        out[start : start + chunk] = torch.cholesky_inverse(lower)
    return out.reshape(cov.shape)


def ledoit_wolf_gaussian(features: Tensor) -> tuple[Tensor, Tensor, float]:
    """Mean (D,) and Ledoit-Wolf shrunk precision (D, D) of (N, D) features, as float32 on their device, and
    the shrinkage (covariance = (1 - shrinkage) * ML covariance + shrinkage * mean variance * I)."""
    if features.shape[0] < 2:
        raise ValueError(f"need at least 2 feature vectors for a covariance, got {features.shape[0]}")
    x = features.detach().double().cpu().numpy()
    estimate = LedoitWolf().fit(x)
    mean = torch.from_numpy(estimate.location_).float().to(features.device)
    precision = torch.from_numpy(estimate.precision_).float().to(features.device)
    return mean, precision, float(estimate.shrinkage_)


def mahalanobis(x: Tensor, mean: Tensor, precision: Tensor) -> Tensor:
    """Distances of x (..., N, D) to Gaussians mean (..., D), precision (..., D, D) -> (..., N)."""
    diff = x.float() - mean.unsqueeze(-2)  # (..., N, D)
    squared = ((diff @ precision) * diff).sum(dim=-1)  # (..., N)
    return squared.clamp_min(0.0).sqrt()


def leave_one_out(squared: Tensor, n: int, shrinkage: float = 0.0, divisor: str = "n-1") -> Tensor:
    """Squared Mahalanobis distances of the very samples a Gaussian was fitted on (n of them) -> each one's
    squared distance to the Gaussian fitted on the other n - 1.

    In-sample distances are biased low (with 176 channels and 200 images, several-fold): a threshold or a
    normalisation taken from them calls every new normal image anomalous. With the covariance
    w * scatter + (a ridge or shrinkage target), w = (1 - shrinkage) / D and D = n - 1 (`divisor="n-1"`,
    unbiased, as `RunningMoments`) or n (`"n"`, Ledoit-Wolf's), Sherman-Morrison on the rank-one downdate of
    the scatter gives (n / (n - 1))^2 (w / w') m / (1 - w n m / (n - 1)) of the in-sample m, w' the weight
    with one sample fewer: exact without a ridge or shrinkage, and with them when the added term is taken to
    scale with the covariance (by w' / w)."""
    if n < 3:
        return squared
    if divisor not in ("n-1", "n"):
        raise ValueError(f"divisor={divisor!r}: choose 'n-1' or 'n'")
    d = n - 1 if divisor == "n-1" else n
    weight, weight_left = (1.0 - shrinkage) / d, (1.0 - shrinkage) / (d - 1)
    scale = (n / (n - 1)) ** 2 * weight / weight_left
    return scale * squared / (1.0 - weight * n / (n - 1) * squared).clamp_min(1e-6)


def upsample_blur(maps: Tensor, size: tuple[int, int], sigma: float) -> Tensor:
    """Feature-resolution maps (N, h, w) -> (N, H, W): bilinear upsampling, then a Gaussian blur (sigma in px)."""
    out = F.interpolate(
        maps[:, None].float(), size=size, mode="bilinear", align_corners=False
    )  # (N, 1, H, W)
    if sigma > 0:
        kernel = min(2 * round(4 * sigma) + 1, 2 * min(size) - 1)  # reflect padding needs kernel // 2 < H
        out = kornia.filters.gaussian_blur2d(out, (kernel, kernel), (sigma, sigma), border_type="reflect")
    return out[:, 0]
