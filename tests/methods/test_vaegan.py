"""VAE-GAN: its loss terms, one adversarial training step, and the Grad-CAM attention on the error image."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from engine.data.loaders import make_loader
from engine.methods import get_method
from engine.methods.params import make_params
from engine.methods.vaegan import VaeGan, half_squared_error, kl_to_standard_normal

SIZE = 32
TINY = {"latent_dim": 8, "width": 8, "epochs": 6, "batch_size": 8}  # 2 epochs leave D near constant


@pytest.fixture(scope="module")
def trained(make_images) -> tuple[VaeGan, list, dict]:
    method = VaeGan(make_params(VaeGan, "smoke", TINY), (1, SIZE, SIZE), seed=0)
    before = {k: v.clone() for k, v in method.discriminator.state_dict().items()}
    logs: list = []
    method.fit(
        make_loader(make_images(16, 1, SIZE, seed=1), batch_size=8, shuffle=True), on_epoch=logs.append
    )
    return method, logs, before


def test_loss_terms_on_hand_made_numbers() -> None:
    mu, logvar = torch.tensor([[0.0, 0.0], [2.0, 0.0]]), torch.zeros(2, 2)
    torch.testing.assert_close(kl_to_standard_normal(mu, logvar), torch.tensor([0.0, 2.0]))
    a, b = torch.zeros(2, 1, 2, 2), torch.tensor([0.5, 1.0])[:, None, None, None].expand(2, 1, 2, 2)
    torch.testing.assert_close(half_squared_error(a, b), torch.tensor([0.5, 2.0]))


@pytest.mark.slow  # trains a VAE-GAN (what training achieves)
def test_losses_are_finite_and_the_discriminator_learns(trained) -> None:
    method, logs, before = trained
    assert {"loss", "loss_dis", "prior", "feat", "gan_generator"} <= set(logs[-1].losses)
    assert all(torch.isfinite(torch.tensor(list(log.losses.values()))).all() for log in logs)
    after = method.discriminator.state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before if after[k].is_floating_point())


@pytest.mark.slow  # trains a VAE-GAN (what training achieves)
def test_prediction_scores_the_error_image(trained, make_images) -> None:
    method, _, _ = trained
    images = make_images(5, 1, SIZE, seed=3)
    pred = method.predict(images).check(images)
    error = (images - pred.reconstruction).abs().mean(dim=1)
    torch.testing.assert_close(pred.anomaly_map, error)
    torch.testing.assert_close(pred.score, error.flatten(1).mean(dim=1))
    mu, _ = method.encoder(images)
    torch.testing.assert_close(pred.embedding, mu)
    assert method.centroid is not None and method.centroid.shape == (TINY["latent_dim"],)


@pytest.mark.slow  # trains a VAE-GAN (what training achieves)
def test_attention_is_an_image_sized_gradcam_that_weights_the_error(trained, make_images) -> None:
    method, _, _ = trained
    images = torch.cat([make_images(4, 1, SIZE, seed=3), make_images(4, 1, SIZE, seed=4, anomalous=True)])
    plain = method.predict(images)
    attended = VaeGan(dataclasses.replace(method.params, attention=True), (1, SIZE, SIZE))
    attended.load_state_dict(method.state_dict())
    pred = attended.predict(images).check(images)
    assert pred.attention is not None and pred.attention.shape == (8, SIZE, SIZE)
    assert pred.attention.min() >= 0 and pred.attention.max() <= 1
    torch.testing.assert_close(pred.attention, plain.attention)
    torch.testing.assert_close(pred.anomaly_map, pred.attention * plain.anomaly_map)
    assert not torch.allclose(pred.score, plain.score)


@pytest.mark.slow  # trains a VAE-GAN (what training achieves)
def test_per_attention_score_is_the_error_per_unit_of_attention(trained, make_images) -> None:
    method, _, _ = trained
    images = torch.cat([make_images(4, 1, SIZE, seed=3), make_images(4, 1, SIZE, seed=4, anomalous=True)])
    params = dataclasses.replace(method.params, attention=True, attention_score="per_attention")
    per_attention = VaeGan(params, (1, SIZE, SIZE))
    per_attention.load_state_dict(method.state_dict())
    pred = per_attention.predict(images)
    error = method.predict(images).anomaly_map  # attention off: the plain error image
    torch.testing.assert_close(pred.anomaly_map, pred.attention * error)  # the map is the seed's product
    expected = (pred.attention * error).sum(dim=(1, 2)) / pred.attention.sum(dim=(1, 2))
    torch.testing.assert_close(pred.score, expected)
    assert not torch.allclose(pred.score, pred.anomaly_map.mean(dim=(1, 2)))


@pytest.mark.slow  # trains a VAE-GAN (what training achieves)
def test_per_ink_divides_any_score_by_the_reconstructions_mean_intensity(trained, make_images) -> None:
    method, _, _ = trained
    images = torch.cat([make_images(4, 1, SIZE, seed=3), make_images(4, 1, SIZE, seed=4, anomalous=True)])
    plain = method.predict(images)
    for extra in ({}, {"attention": True, "attention_score": "per_attention"}):
        base = VaeGan(dataclasses.replace(method.params, **extra), (1, SIZE, SIZE))
        inked = VaeGan(dataclasses.replace(method.params, per_ink=True, **extra), (1, SIZE, SIZE))
        base.load_state_dict(method.state_dict())
        inked.load_state_dict(method.state_dict())
        before, after = base.predict(images), inked.predict(images)
        torch.testing.assert_close(after.anomaly_map, before.anomaly_map)  # the map is unchanged
        ink = plain.reconstruction.flatten(1).mean(dim=1)
        torch.testing.assert_close(after.score, before.score / ink)
    # without attention: vae's per-ink rule, the summed error over the reconstruction's summed intensity
    summed = (images - plain.reconstruction).abs().flatten(1).sum(dim=1)
    expected = summed / plain.reconstruction.flatten(1).sum(dim=1)
    inked = VaeGan(dataclasses.replace(method.params, per_ink=True), (1, SIZE, SIZE))
    inked.load_state_dict(method.state_dict())
    torch.testing.assert_close(inked.predict(images).score, expected)


@pytest.mark.slow  # trains a VAE-GAN (what training achieves)
def test_attention_target_real_is_another_map(trained, make_images) -> None:
    method, _, _ = trained
    assert method.params.attention_target == "fake"
    real = VaeGan(dataclasses.replace(method.params, attention_target="real"), (1, SIZE, SIZE))
    real.load_state_dict(method.state_dict())
    images = make_images(4, 1, SIZE, seed=6)
    assert not torch.allclose(real.attention_map(images), method.attention_map(images))


def test_bad_inputs_name_the_choices() -> None:
    with pytest.raises(ValueError, match="choose from"):
        make_params(VaeGan, "smoke", {"attention_target": "both"})
    with pytest.raises(ValueError, match=r"unknown attention_score 'sum'.*\['mean', 'per_attention'\]"):
        make_params(VaeGan, "smoke", {"attention_score": "sum"})
    with pytest.raises(ValueError, match="multiple of 16"):
        VaeGan(make_params(VaeGan, "smoke"), (3, 100, 100))
    assert get_method("vaegan") is VaeGan


@pytest.mark.slow  # trains a VAE-GAN (what training achieves)
def test_attention_layer_explains_a_finer_stage(trained, make_images) -> None:
    method, _, _ = trained
    assert method.params.attention_layer == 3  # the last conv, (H/16) a side: 2x2 at 32 px
    images = make_images(4, 1, SIZE, seed=7)
    coarse = method.attention_map(images)
    fine = VaeGan(dataclasses.replace(method.params, attention_layer=1), (1, SIZE, SIZE))
    fine.load_state_dict(method.state_dict())
    cam = fine.attention_map(images)
    assert cam.shape == coarse.shape == (4, SIZE, SIZE) and cam.min() >= 0 and cam.max() <= 1
    assert not torch.allclose(cam, coarse)


@pytest.mark.slow  # trains a VAE-GAN (what training achieves)
def test_feature_layer_is_the_matched_stage(make_images) -> None:
    def feat_loss(layer: int) -> float:
        params = make_params(VaeGan, "smoke", {**TINY, "epochs": 1, "feature_layer": layer})
        method = VaeGan(params, (1, SIZE, SIZE), seed=0)
        logs: list = []
        method.fit(make_loader(make_images(8, 1, SIZE, seed=1), batch_size=8), on_epoch=logs.append)
        return logs[-1].losses["feat"]

    # the same seed and data, so only the matched stage differs: its loss is another number
    assert feat_loss(3) == pytest.approx(feat_loss(3))
    assert feat_loss(0) != pytest.approx(feat_loss(3), rel=1e-3)
    with pytest.raises(ValueError, match="feature_layer.*out of range"):
        make_params(VaeGan, "smoke", {"feature_layer": 4})
