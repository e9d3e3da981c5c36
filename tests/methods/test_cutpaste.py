"""CutPaste: 2-/3-way batches and labels, Grad-CAM maps that are non-negative and image-sized, a learnt task."""

from __future__ import annotations

import pytest
import torch

from engine.data.loaders import make_loader
from engine.methods.cutpaste import CutPaste, anomaly_logit
from engine.methods.params import make_params
from engine.methods.progress import EpochLog

SIZE = 32


@pytest.mark.parametrize("variant, classes", [("2way", 2), ("3way", 3)])
def test_augmented_batch_stacks_one_copy_per_class(variant: str, classes: int) -> None:
    method = CutPaste(make_params(CutPaste, "smoke", {"variant": variant}), (1, SIZE, SIZE), seed=0)
    images = torch.rand(4, 1, SIZE, SIZE, generator=torch.Generator().manual_seed(0))
    inputs, labels = method.augmented_batch(images, torch.Generator().manual_seed(1))
    assert inputs.shape == (4 * classes, 1, SIZE, SIZE)
    assert labels.tolist() == [c for c in range(classes) for _ in range(4)]
    assert torch.equal(inputs[:4], images)
    assert all(not torch.equal(inputs[4 * c : 4 * c + 4], images) for c in range(1, classes))
    assert method.model.classifier.out_features == classes


def test_unknown_variant_lists_the_choices() -> None:
    with pytest.raises(ValueError, match=r"choose from \['2way', '3way'\]"):
        make_params(CutPaste, "cpu", {"variant": "4way"})


def test_anomaly_logit_is_log_odds_against_normal() -> None:
    logits = torch.tensor([[2.0, 0.0, 0.0], [0.0, 1.0, 1.0]])
    expected = torch.tensor([torch.log(torch.tensor(2.0)) - 2.0, 1.0 + torch.log(torch.tensor(2.0))])
    torch.testing.assert_close(anomaly_logit(logits), expected)


@pytest.fixture(scope="module")
def fitted(make_images) -> tuple[CutPaste, list[EpochLog]]:
    params = make_params(CutPaste, "smoke", {"epochs": 3, "batch_size": 8, "lr": 0.01})
    method = CutPaste(params, (3, SIZE, SIZE), seed=0)
    logs: list[EpochLog] = []
    method.fit(make_loader(make_images(16, 3, SIZE, seed=1), 8, shuffle=True), on_epoch=logs.append)
    return method, logs


@pytest.mark.slow  # uses the CutPaste-trained encoder (what training achieves)
def test_training_logs_loss_and_accuracy(fitted) -> None:
    _, logs = fitted
    assert [log.epoch for log in logs] == [1, 2, 3]
    assert all({"loss", "accuracy"} <= set(log.losses) for log in logs)
    assert logs[-1].losses["loss"] < logs[0].losses["loss"]


@pytest.mark.slow  # uses the CutPaste-trained encoder (what training achieves)
def test_grad_cam_maps_are_non_negative_and_image_sized(fitted, make_images) -> None:
    method, _ = fitted
    images = make_images(4, 3, SIZE, seed=3, anomalous=True)
    with torch.no_grad():  # predict must switch gradients on for Grad-CAM itself
        pred = method.predict(images).check(images)
    assert pred.attention.shape == (4, SIZE, SIZE)
    assert pred.attention.min() >= 0 and pred.attention.max() <= 1
    torch.testing.assert_close(pred.anomaly_map, pred.attention * pred.score[:, None, None])
    assert pred.embedding.shape == (4, 320) and method.centroid.shape == (320,)  # lite0 layer4


@pytest.mark.slow  # uses the CutPaste-trained encoder (what training achieves)
def test_score_is_the_distance_to_the_training_gaussian(fitted, make_images) -> None:
    method, _ = fitted
    train = make_images(16, 3, SIZE, seed=1)
    far = torch.ones(2, 3, SIZE, SIZE)  # a blank white image is far from the stripes
    assert method.predict(far).score.min() > method.predict(train).score.median()


@pytest.mark.slow  # uses the CutPaste-trained encoder (what training achieves)
def test_training_images_are_scored_left_out_of_the_gaussian(fitted, make_images) -> None:
    method, _ = fitted
    train = make_images(16, 3, SIZE, seed=1)  # what it was fitted on, once each (16 distinct images)
    assert method.n_fitted == 16 and 0.0 <= method.shrinkage <= 1.0
    in_sample, left_out = method.predict(train), method.predict_training(train)
    assert (left_out.score > in_sample.score).all()
    scale = (left_out.score / in_sample.score)[
        :, None, None
    ]  # the map scales with the score (tiles score maps)
    torch.testing.assert_close(left_out.anomaly_map, in_sample.anomaly_map * scale)
    fresh = method.predict(make_images(16, 3, SIZE, seed=7)).score  # other normal images
    assert in_sample.score.median() < fresh.median()
    assert abs(left_out.score.median() - fresh.median()) < abs(in_sample.score.median() - fresh.median())


def test_density_layers_concatenate_the_pooled_stages(make_images) -> None:
    params = make_params(CutPaste, "smoke", {"density_layers": "layer4,layer3"})
    method = CutPaste(params, (3, SIZE, SIZE), seed=0)
    images = make_images(2, 3, SIZE, seed=2)
    features = method.features(images)
    maps = method.model.encoder(images)
    expected = torch.cat([maps["layer3"].mean(dim=(2, 3)), maps["layer4"].mean(dim=(2, 3))], dim=1)
    assert features.shape == (2, 112 + 320)  # lite0 layer3 + layer4, in stride order
    torch.testing.assert_close(features, expected)
    assert make_params(CutPaste, "cpu").density_layers == "layer3,layer4"
    assert make_params(CutPaste, "paper").density_layers == "layer4"  # the paper pools layer4 only
    with pytest.raises(ValueError, match=r"unknown density_layers \['layer5'\]; choose from \['layer1'"):
        make_params(CutPaste, "cpu", {"density_layers": "layer5"})
