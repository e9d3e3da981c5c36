"""Gaussian components: streaming moments, batched Mahalanobis distances, Ledoit-Wolf, map smoothing."""

from __future__ import annotations

import pytest
import torch

from engine.methods.components.gaussian import (
    RunningMoments,
    leave_one_out,
    ledoit_wolf_gaussian,
    mahalanobis,
    regularized_precision,
    upsample_blur,
)


def test_running_moments_match_torch_cov_per_position() -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(30, 5, 4, generator=g) * 3 + 7  # (N, P, D) with an offset
    moments = RunningMoments()
    for chunk in x.split(7):
        moments.update(chunk)
    mean, cov = moments.mean_cov()
    for p in range(5):
        torch.testing.assert_close(mean[p], x[:, p].double().mean(dim=0))
        torch.testing.assert_close(cov[p], torch.cov(x[:, p].double().T))


@pytest.mark.parametrize("ridge, rtol", [(0.0, 1e-6), (0.01, 5e-3)])
def test_leave_one_out_equals_refitting_without_each_sample(ridge, rtol) -> None:
    g = torch.Generator().manual_seed(3)
    x = (torch.randn(40, 6, generator=g) @ torch.randn(6, 6, generator=g)).double()  # (n, D), correlated
    n = x.shape[0]
    mean, cov = x.mean(dim=0), torch.cov(x.T)
    precision = torch.linalg.inv(cov + ridge * torch.eye(6, dtype=x.dtype))
    in_sample = mahalanobis(x, mean, precision).square()
    refitted = []
    for i in range(n):
        rest = torch.cat([x[:i], x[i + 1 :]])
        rest_precision = torch.linalg.inv(
            torch.cov(rest.T) + ridge * (n - 1) / (n - 2) * torch.eye(6, dtype=x.dtype)
        )
        refitted.append(mahalanobis(x[i : i + 1], rest.mean(dim=0), rest_precision).square()[0])
    got = leave_one_out(in_sample, n)
    torch.testing.assert_close(got, torch.stack(refitted), rtol=rtol, atol=0.0)
    assert (got > in_sample).all()  # every training sample is further from the Gaussian it was not part of
    assert torch.equal(leave_one_out(in_sample[:2], 2), in_sample[:2])  # too few samples: unchanged


def test_leave_one_out_of_a_shrunk_ml_covariance_equals_refitting() -> None:
    g = torch.Generator().manual_seed(4)
    x = (torch.randn(30, 5, generator=g) @ torch.randn(5, 5, generator=g)).double()
    n, s = x.shape[0], 0.3

    def shrunk(rows: torch.Tensor, target: float) -> torch.Tensor:  # Ledoit-Wolf's form at a fixed shrinkage
        ml = torch.cov(rows.T, correction=0)
        return (1 - s) * ml + s * target * torch.eye(5, dtype=rows.dtype)

    target = float(torch.cov(x.T, correction=0).trace() / 5)
    in_sample = mahalanobis(x, x.mean(dim=0), torch.linalg.inv(shrunk(x, target))).square()
    refitted = torch.stack(
        [
            mahalanobis(
                x[i : i + 1],
                (rest := torch.cat([x[:i], x[i + 1 :]])).mean(dim=0),
                torch.linalg.inv(shrunk(rest, target * n / (n - 1))),  # the target scaled as the covariance
            ).square()[0]
            for i in range(n)
        ]
    )
    got = leave_one_out(in_sample, n, shrinkage=s, divisor="n")
    torch.testing.assert_close(got, refitted, rtol=1e-6, atol=0.0)
    with pytest.raises(ValueError, match="divisor"):
        leave_one_out(in_sample, n, divisor="n+1")


def test_running_moments_need_two_vectors() -> None:
    moments = RunningMoments()
    moments.update(torch.zeros(1, 3))
    with pytest.raises(ValueError, match="at least 2"):
        moments.mean_cov()


def test_batched_mahalanobis_equals_the_formula_per_position() -> None:
    g = torch.Generator().manual_seed(1)
    a = torch.randn(3, 4, 4, generator=g)
    cov = a @ a.transpose(1, 2)  # (P, D, D)
    precision = regularized_precision(cov, 0.01)
    mean = torch.randn(3, 4, generator=g)
    x = torch.randn(3, 6, 4, generator=g)  # (P, N, D)
    got = mahalanobis(x, mean, precision)
    inverse = torch.linalg.inv(cov.double() + 0.01 * torch.eye(4, dtype=torch.float64))
    for p in range(3):
        for n in range(6):
            diff = (x[p, n] - mean[p]).double()
            expected = (diff @ inverse[p] @ diff).sqrt().float()
            torch.testing.assert_close(got[p, n], expected, rtol=1e-4, atol=1e-4)


def test_ledoit_wolf_centres_on_the_mean_and_is_positive_definite() -> None:
    x = torch.randn(10, 20, generator=torch.Generator().manual_seed(2))  # fewer samples than dimensions
    mean, precision, _ = ledoit_wolf_gaussian(x)
    torch.testing.assert_close(mean, x.mean(dim=0))
    assert torch.linalg.eigvalsh(precision.double()).min() > 0
    assert mahalanobis(mean[None], mean, precision).item() == pytest.approx(0.0, abs=1e-3)
    far = mahalanobis(mean[None] + 10, mean, precision)
    near = mahalanobis(x[:1], mean, precision)
    assert far.item() > near.item()


def test_upsample_blur_keeps_size_and_spreads_a_peak() -> None:
    maps = torch.zeros(2, 8, 8)
    maps[0, 4, 4] = 1.0
    out = upsample_blur(maps, (32, 32), sigma=4.0)
    assert out.shape == (2, 32, 32)
    assert out[1].abs().max() == 0
    assert out[0].max() < 1.0 and (out[0] > 0.01).sum() > 16  # blurred, not a single spike
    assert out[0].flatten().argmax().item() // 32 in range(14, 22)


@pytest.mark.parametrize("chunk", [1, 2, 256])
def test_regularized_precision_is_the_inverse_in_any_chunking(chunk) -> None:
    g = torch.Generator().manual_seed(4)
    a = torch.randn(2, 3, 5, 8, generator=g)
    cov = (a @ a.transpose(-1, -2)).double()  # (2, 3, D, D): leading dimensions kept
    got = regularized_precision(cov, 0.1, chunk=chunk)
    expected = torch.linalg.inv(cov + 0.1 * torch.eye(5, dtype=torch.float64))
    assert got.shape == cov.shape and got.dtype == torch.float32
    torch.testing.assert_close(got.double(), expected, rtol=1e-5, atol=1e-5)
