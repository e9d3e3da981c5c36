"""AnoGAN: the search loss, the batched latent search, and the prediction built from it."""

from __future__ import annotations

import pytest
import torch

from engine.data.loaders import make_loader
from engine.methods import get_method
from engine.methods.anogan import AnoGan, anogan_loss
from engine.methods.params import make_params

SIZE = 32
TINY = {"latent_dim": 8, "width": 8, "epochs": 2, "batch_size": 8, "search_steps": 3, "centroid_images": 8}


@pytest.fixture(scope="module")
def trained(make_images) -> tuple[AnoGan, list]:
    method = AnoGan(make_params(AnoGan, "smoke", TINY), (1, SIZE, SIZE), seed=0)
    logs: list = []
    method.fit(
        make_loader(make_images(16, 1, SIZE, seed=1), batch_size=8, shuffle=True), on_epoch=logs.append
    )
    return method, logs


def test_loss_mixes_residual_and_discrimination_by_lambda() -> None:
    x, fake = torch.zeros(2, 1, 2, 2), torch.full((2, 1, 2, 2), 0.5)
    fx, ffake = torch.zeros(2, 3, 1, 1), torch.tensor([2.0, 4.0])[:, None, None, None].expand(2, 3, 1, 1)
    torch.testing.assert_close(anogan_loss(x, fake, fx, ffake, 0.0), torch.tensor([0.5, 0.5]))
    torch.testing.assert_close(anogan_loss(x, fake, fx, ffake, 1.0), torch.tensor([2.0, 4.0]))
    torch.testing.assert_close(anogan_loss(x, fake, fx, ffake, 0.1), torch.tensor([0.65, 0.85]))


@pytest.mark.slow  # uses the trained GAN (what training achieves)
def test_training_logs_both_players(trained) -> None:
    _, logs = trained
    assert [log.epoch for log in logs] == [1, 2]
    assert {"loss", "loss_d", "loss_g"} <= set(logs[0].losses)
    assert all(torch.isfinite(torch.tensor(list(log.losses.values()))).all() for log in logs)


@pytest.mark.slow  # uses the trained GAN (what training achieves)
def test_latent_search_lowers_the_loss_for_every_image(trained, make_images) -> None:
    method, _ = trained
    images = make_images(6, 1, SIZE, seed=5)
    start = method.search_latent(images, steps=0)
    found = method.search_latent(images, steps=25)
    assert (found.loss < start.loss).all(), (start.loss, found.loss)
    assert not torch.allclose(found.z, start.z)


@pytest.mark.slow  # uses the trained GAN (what training achieves)
def test_prediction_is_the_searched_code_and_its_residual(trained, make_images) -> None:
    method, _ = trained
    images = make_images(5, 1, SIZE, seed=3)
    pred = method.predict(images).check(images)
    found = method.search_latent(images)  # same seeded starts, so the same search
    torch.testing.assert_close(pred.score, found.loss)
    torch.testing.assert_close(pred.embedding, found.z)
    torch.testing.assert_close(pred.anomaly_map, (images - pred.reconstruction).abs().mean(dim=1))
    assert pred.attention is None
    assert method.centroid is not None and method.centroid.shape == (TINY["latent_dim"],)


def test_any_channel_count_and_supported_size(make_images) -> None:
    method = AnoGan(make_params(AnoGan, "smoke", TINY), (3, 48, 48))
    images = make_images(2, 3, 48, seed=2)
    method.search_latent(images, steps=1)
    assert method.predict(images).check(images).reconstruction.shape == (2, 3, 48, 48)


def test_bad_inputs_name_the_choices() -> None:
    with pytest.raises(ValueError, match="multiple of 16"):
        AnoGan(make_params(AnoGan, "smoke"), (1, 40, 40))
    with pytest.raises(ValueError, match="lam"):
        make_params(AnoGan, "smoke", {"lam": "1.5"})
    assert get_method("anogan") is AnoGan
