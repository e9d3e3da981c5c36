"""VAE: loss terms, deterministic eval, and the recon / elbo scores."""

from __future__ import annotations

import pytest
import torch

from engine.data.loaders import make_loader
from engine.methods.params import make_params
from engine.methods.vae import ConvVAE, Vae, per_ink, vae_terms

TINY = {"latent_dim": 8, "width": 8, "epochs": 4, "batch_size": 8}


@pytest.fixture(scope="module")
def trained(make_images) -> tuple[Vae, list]:
    method = Vae(make_params(Vae, "smoke", TINY), (1, 32, 32), seed=0)
    logs: list = []
    method.fit(make_loader(make_images(24, 1, 32, seed=1), batch_size=8, shuffle=True), on_epoch=logs.append)
    return method, logs


def test_vae_terms_on_hand_made_numbers() -> None:
    x, recon = torch.zeros(2, 1, 2, 2), torch.full((2, 1, 2, 2), 0.5)
    mu, logvar = torch.tensor([[0.0, 0.0], [2.0, 0.0]]), torch.zeros(2, 2)
    sse, kl = vae_terms(x, recon, mu, logvar)
    torch.testing.assert_close(sse, torch.tensor([1.0, 1.0]))  # 4 pixels * 0.25
    torch.testing.assert_close(kl, torch.tensor([0.0, 2.0]))  # 0.5 * mu^2 where q = N(mu, 1)


def test_eval_decodes_the_mean_and_training_samples() -> None:
    torch.manual_seed(0)
    model, x = ConvVAE(3, 32, 4, 4), torch.rand(2, 3, 32, 32)
    model.eval()
    torch.testing.assert_close(model(x)[0], model(x)[0])
    model.train()
    assert not torch.allclose(model(x)[0], model(x)[0])


@pytest.mark.slow  # uses the trained VAE (what training achieves)
def test_training_logs_recon_and_kl_and_lowers_the_loss(trained) -> None:
    _, logs = trained
    assert set(logs[0].losses) == {"loss", "recon", "kl"}
    assert logs[-1].losses["loss"] < logs[0].losses["loss"]


@pytest.mark.slow  # uses the trained VAE (what training achieves)
def test_recon_score_ranks_a_bright_square_higher(trained, make_images) -> None:
    method, _ = trained
    normal = method.predict(make_images(8, 1, 32, seed=3))
    anomalous = method.predict(make_images(8, 1, 32, seed=4, anomalous=True))
    assert anomalous.score.min() > normal.score.median()


@pytest.mark.slow  # uses the trained VAE (what training achieves)
def test_elbo_score_adds_the_kl_term(trained, make_images) -> None:
    recon_method, _ = trained
    elbo_method = Vae(make_params(Vae, "smoke", TINY | {"score": "elbo"}), (1, 32, 32))
    elbo_method.load_state_dict(recon_method.state_dict())
    images = make_images(4, 1, 32, seed=3)
    recon, elbo = recon_method.predict(images), elbo_method.predict(images)
    kl = vae_terms(images, recon.reconstruction, *recon_method.model.encode(images))[1]
    torch.testing.assert_close(elbo.score, recon.score + kl)
    assert (elbo.score > recon.score).all()
    torch.testing.assert_close(recon.embedding, elbo.embedding)


@pytest.mark.slow  # uses the trained VAE (what training achieves)
def test_per_ink_score_divides_the_error_by_the_reconstructed_mass(trained, make_images) -> None:
    recon_method, _ = trained
    ink = Vae(make_params(Vae, "smoke", TINY | {"score": "per_ink"}), (1, 32, 32))
    ink.load_state_dict(recon_method.state_dict())
    images = make_images(4, 1, 32, seed=3)
    pred = ink.predict(images)
    expected = (images - pred.reconstruction).abs().sum((1, 2, 3)) / pred.reconstruction.sum((1, 2, 3))
    torch.testing.assert_close(pred.score, expected)
    # hand-made: an error of 0.5 on 4 pixels over a reconstruction of mass 1 -> 2.0
    x, r = torch.zeros(1, 1, 2, 2), torch.full((1, 1, 2, 2), 0.25)
    torch.testing.assert_close(per_ink(x + 0.75, r), torch.tensor([2.0]))


def test_unknown_score_lists_the_choices() -> None:
    with pytest.raises(ValueError, match=r"choose from \['recon', 'elbo', 'per_ink'\]"):
        make_params(Vae, "cpu", {"score": "kl"})
