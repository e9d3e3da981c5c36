"""Autoencoder: recon score finds a bright square; the latent score is the code's distance to the centroid."""

from __future__ import annotations

import pytest
import torch

from engine.data.loaders import make_loader
from engine.methods.autoencoder import Autoencoder, latent_distance
from engine.methods.params import make_params

TINY = {"latent_dim": 16, "width": 8, "epochs": 4, "batch_size": 8}


@pytest.fixture(scope="module")
def trained(make_images) -> tuple[Autoencoder, list]:
    method = Autoencoder(make_params(Autoencoder, "smoke", TINY), (1, 32, 32), seed=0)
    logs: list = []
    train = make_loader(make_images(24, 1, 32, seed=1), batch_size=8, shuffle=True, seed=0)
    method.fit(train, on_epoch=logs.append)
    return method, logs


def test_training_lowers_the_loss(trained) -> None:
    _, logs = trained
    assert [log.epoch for log in logs] == [1, 2, 3, 4]
    assert logs[-1].losses["loss"] < logs[0].losses["loss"]


def test_recon_score_ranks_a_bright_square_higher(trained, make_images) -> None:
    method, _ = trained
    normal = method.predict(make_images(8, 1, 32, seed=3))
    anomalous = method.predict(make_images(8, 1, 32, seed=4, anomalous=True))
    assert anomalous.score.min() > normal.score.median()
    # The map is the per-pixel squared error and the score its mean.
    torch.testing.assert_close(normal.score, normal.anomaly_map.flatten(1).mean(dim=1))


def test_latent_mode_differs_from_recon_mode_only_in_the_score(trained, make_images) -> None:
    recon_method, _ = trained
    latent_method = Autoencoder(make_params(Autoencoder, "smoke", TINY | {"score": "latent"}), (1, 32, 32))
    latent_method.load_state_dict(recon_method.state_dict())
    images = torch.cat([make_images(4, 1, 32, seed=3), make_images(4, 1, 32, seed=4, anomalous=True)])
    recon, latent = recon_method.predict(images), latent_method.predict(images)
    torch.testing.assert_close(recon.anomaly_map, latent.anomaly_map)
    torch.testing.assert_close(recon.embedding, latent.embedding)
    torch.testing.assert_close(latent.score, latent_distance(latent.embedding, recon_method.centroid))
    assert not torch.allclose(recon.score, latent.score)


def test_latent_distance_is_euclidean_to_the_centroid() -> None:
    codes = torch.tensor([[3.0, 4.0], [0.0, 0.0]])
    torch.testing.assert_close(latent_distance(codes, torch.zeros(2)), torch.tensor([5.0, 0.0]))
    with pytest.raises(RuntimeError, match="fit"):
        latent_distance(codes, None)


def test_unknown_score_lists_the_choices() -> None:
    with pytest.raises(ValueError, match=r"choose from \['recon', 'latent'\]"):
        make_params(Autoencoder, "cpu", {"score": "ssim"})
