"""VAE fusion: the fused score follows the decision further from its threshold; Center Loss tightens codes."""

from __future__ import annotations

import pytest
import torch

from engine.data.loaders import make_loader
from engine.methods.params import make_params
from engine.methods.vae import encode_mean
from engine.methods.vae_fusion import (
    VaeFusion,
    center_loss,
    fuse_margins,
    ssim_error,
    threshold_and_scale,
    updated_center,
)

TINY = {"latent_dim": 8, "width": 8, "epochs": 4, "batch_size": 8}


def fit(make_images, **overrides) -> tuple[VaeFusion, torch.Tensor]:
    method = VaeFusion(make_params(VaeFusion, "smoke", TINY | overrides), (1, 32, 32), seed=0)
    images = make_images(24, 1, 32, seed=1)
    method.fit(make_loader(images, batch_size=8, shuffle=True))
    return method, images


@pytest.fixture(scope="module")
def with_center(make_images) -> tuple[VaeFusion, torch.Tensor]:
    return fit(make_images, center_loss=True)


def test_fusion_takes_the_margin_further_from_its_threshold() -> None:
    margin_s = torch.tensor([2.0, -3.0, 0.5, -0.2, 1.0])
    margin_d = torch.tensor([-1.0, 1.0, -0.8, -0.1, 4.0])
    # agree-normal -> the more confident one; disagreements -> whichever lies further away
    torch.testing.assert_close(fuse_margins(margin_s, margin_d), torch.tensor([2.0, -3.0, -0.8, -0.2, 4.0]))


def test_threshold_is_the_quantile_and_scale_the_spread() -> None:
    scores = torch.arange(1.0, 102.0)  # 1..101
    threshold, std = threshold_and_scale(scores, 0.95, "std")
    torch.testing.assert_close(threshold, torch.tensor(96.0))
    torch.testing.assert_close(std, scores.std())
    _, iqr = threshold_and_scale(scores, 0.95, "iqr")
    torch.testing.assert_close(iqr, torch.tensor(50.0))
    assert threshold_and_scale(torch.ones(5), 0.5, "std")[1] > 0  # never divides by zero


def test_center_loss_and_update_pull_codes_and_centre_together() -> None:
    codes = torch.tensor([[1.0, 0.0], [3.0, 0.0], [2.0, 3.0]], requires_grad=True)
    center = torch.zeros(2)
    loss = center_loss(codes, center)
    torch.testing.assert_close(loss, torch.tensor(0.5 * (1 + 9 + 13) / 3))
    (grad,) = torch.autograd.grad(loss, codes)
    moved = codes - 0.5 * grad
    assert ((moved - center) ** 2).sum(1).lt(((codes - center) ** 2).sum(1)).all()
    # Wen et al.: c <- c - alpha * sum(c - z) / (1 + m), i.e. towards the batch mean (2, 1).
    torch.testing.assert_close(updated_center(codes, center, alpha=1.0), torch.tensor([1.5, 0.75]))


@pytest.mark.slow  # trains a VAE with center loss (what training achieves)
def test_center_loss_tightens_the_training_codes(make_images, with_center) -> None:
    tight, images = with_center
    loose, _ = fit(make_images, center_loss=False)

    def spread(method: VaeFusion) -> float:
        mu = encode_mean(method, method.model, make_loader(images, batch_size=8))
        return (mu - method.centroid).norm(dim=1).mean().item()

    assert spread(tight) < 0.8 * spread(loose)


@pytest.mark.slow  # trains a VAE with center loss (what training achieves)
def test_scores_follow_the_chosen_mode(with_center, make_images) -> None:
    fused, _ = with_center
    images = torch.cat([make_images(3, 1, 32, seed=3), make_images(3, 1, 32, seed=4, anomalous=True)])
    pred = fused.predict(images).check(images)
    s = ssim_error(images, pred.reconstruction, 11).flatten(1).mean(dim=1)
    d = (pred.embedding - fused.centroid).norm(dim=1)
    torch.testing.assert_close(pred.anomaly_map, ssim_error(images, pred.reconstruction, 11))
    margins = [(s - fused.thresholds[0]) / fused.scales[0], (d - fused.thresholds[1]) / fused.scales[1]]
    torch.testing.assert_close(pred.score, fuse_margins(*margins))
    for mode, expected in (("ssim", s), ("latent", d)):
        other = VaeFusion(make_params(VaeFusion, "smoke", TINY | {"score": mode}), (1, 32, 32))
        other.load_state_dict(fused.state_dict())
        torch.testing.assert_close(other.predict(images).score, expected)
    assert any("T_S=" in note for note in fused.notes)


def test_ssim_error_is_zero_for_a_perfect_reconstruction() -> None:
    x = torch.rand(2, 3, 32, 32)
    assert ssim_error(x, x, 11).abs().max() < 1e-4
    assert ssim_error(x, 1 - x, 11).mean() > 0.5


@pytest.mark.slow  # trains a VAE with center loss (what training achieves)
def test_mahalanobis_latent_distance_whitens_the_training_codes(make_images) -> None:
    method, images = fit(make_images, center_loss=False, latent_distance="mahalanobis", score="latent")
    codes = encode_mean(method, method.model, make_loader(images, batch_size=8))
    torch.testing.assert_close(method.centroid, codes.mean(0), atol=1e-5, rtol=1e-4)
    distance = method.predict(images).score
    diff = codes - method.centroid
    torch.testing.assert_close(
        distance, ((diff @ method.latent_precision) * diff).sum(1).sqrt(), rtol=1e-4, atol=1e-5
    )
    # Ledoit-Wolf: the precision is the inverse of a shrunk covariance of the codes, so it is no identity here
    assert not torch.allclose(method.latent_precision, torch.eye(8), atol=1e-2)
    # the threshold comes from left-out distances, which lie above the in-sample ones
    assert method.thresholds[1] > torch.quantile(distance, 0.95)
    euclidean, _ = fit(make_images, center_loss=False, score="latent")
    torch.testing.assert_close(euclidean.latent_precision, torch.eye(8))


@pytest.mark.parametrize(
    ("field", "value"), [("score", "elbo"), ("scale", "mad"), ("latent_distance", "cosine")]
)
def test_bad_choices_are_named(field: str, value: str) -> None:
    with pytest.raises(ValueError, match=f"unknown {field} {value!r}.*choose from"):
        make_params(VaeFusion, "cpu", {field: value})
