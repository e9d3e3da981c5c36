"""VAE projection: the iterative projection lowers the VAE loss, stays in [0, 1] and near the input."""

from __future__ import annotations

import pytest
import torch

from engine.data.loaders import make_loader
from engine.methods.params import make_params
from engine.methods.vae import vae_terms
from engine.methods.vae_projection import VaeProjection, energy_of, project, top_fraction_mean

TINY = {"latent_dim": 8, "width": 8, "epochs": 4, "batch_size": 8, "steps": 10}


@pytest.fixture(scope="module")
def trained(make_images) -> VaeProjection:
    method = VaeProjection(make_params(VaeProjection, "smoke", TINY), (1, 32, 32), seed=0)
    method.fit(make_loader(make_images(24, 1, 32, seed=1), batch_size=8, shuffle=True))
    return method


@torch.no_grad()
def vae_loss(method: VaeProjection, x: torch.Tensor) -> torch.Tensor:
    method.model.eval()
    sse, kl = vae_terms(x, *method.model(x))
    return sse + kl  # (N,)


@pytest.mark.slow  # uses the trained VAE or calibrates on one (what training achieves)
def test_projection_reduces_the_vae_loss(trained, make_images) -> None:
    x0 = make_images(6, 1, 32, seed=4, anomalous=True)
    projected = project(trained.model, x0, steps=10, step_size=1.0, lam=0.05)
    assert (vae_loss(trained, projected) < vae_loss(trained, x0)).all()
    assert projected.min() >= 0.0 and projected.max() <= 1.0
    assert not projected.requires_grad


@pytest.mark.slow  # uses the trained VAE or calibrates on one (what training achieves)
def test_larger_lambda_keeps_the_projection_nearer_the_input(trained, make_images) -> None:
    x0 = make_images(4, 1, 32, seed=4, anomalous=True)
    loose = project(trained.model, x0, steps=10, step_size=1.0, lam=0.0)
    tight = project(trained.model, x0, steps=10, step_size=1.0, lam=1.0)
    assert (tight - x0).abs().sum() < (loose - x0).abs().sum()
    torch.testing.assert_close(project(trained.model, x0, steps=0, step_size=1.0, lam=0.0), x0)


@pytest.mark.slow  # uses the trained VAE or calibrates on one (what training achieves)
def test_prediction_is_the_projection_and_its_difference(trained, make_images) -> None:
    images = torch.cat([make_images(3, 1, 32, seed=3), make_images(3, 1, 32, seed=4, anomalous=True)])
    pred = trained.predict(images).check(images)
    torch.testing.assert_close(pred.anomaly_map, (images - pred.reconstruction).abs().mean(dim=1))
    torch.testing.assert_close(pred.score, top_fraction_mean(pred.anomaly_map, trained.params.topk))
    torch.testing.assert_close(pred.embedding, trained.model.encode(images)[0].detach())


def test_top_fraction_mean_on_hand_made_numbers() -> None:
    maps = torch.arange(10.0).view(1, 2, 5)
    torch.testing.assert_close(top_fraction_mean(maps, 0.2), torch.tensor([8.5]))
    torch.testing.assert_close(top_fraction_mean(maps, 1.0), torch.tensor([4.5]))


def test_bad_score_lists_the_choices() -> None:
    with pytest.raises(ValueError, match=r"choose from \['mean', 'topk'\]"):
        make_params(VaeProjection, "cpu", {"score": "max"})


@pytest.mark.slow  # uses the trained VAE or calibrates on one (what training achieves)
def test_calibrated_step_moves_the_median_training_image_by_move(make_images) -> None:
    train = make_images(16, 1, 32, seed=1)
    params = make_params(VaeProjection, "smoke", {**TINY, "step_rule": "calibrated", "move": 0.1})
    method = VaeProjection(params, (1, 32, 32), seed=0)
    method.fit(make_loader(train, batch_size=16))
    scale = float(method.step_scale)
    assert scale > 0 and scale != 1.0 and any("step calibrated" in note for note in method.notes)
    first = project(method.model, train, steps=1, step_size=scale, lam=params.lam)
    largest = (first - train).abs().flatten(1).amax(dim=1)  # clipping to [0, 1] can only shorten a move
    assert largest.median() <= 0.1 + 1e-4 and largest.max() > 0.02
    saved = VaeProjection(params, (1, 32, 32), seed=0)
    assert float(saved.step_scale) == 1.0
    saved.load_state_dict(method.state_dict())  # the scale travels with the weights
    assert float(saved.step_scale) == pytest.approx(scale)
    paper = VaeProjection(make_params(VaeProjection, "smoke", TINY), (1, 32, 32), seed=0)
    paper.fit(make_loader(train, batch_size=16))
    assert float(paper.step_scale) == 1.0


def test_bad_step_rule_and_move_name_the_choices() -> None:
    with pytest.raises(ValueError, match=r"unknown step_rule 'big'.*\['paper', 'calibrated'\]"):
        make_params(VaeProjection, "cpu", {"step_rule": "big"})
    with pytest.raises(ValueError, match=r"move must lie in \(0, 1\]"):
        make_params(VaeProjection, "cpu", {"move": 0})


@pytest.mark.slow  # uses the trained VAE or calibrates on one (what training achieves)
def test_backtracking_never_raises_an_images_energy(trained, make_images) -> None:
    x0 = torch.cat([make_images(3, 1, 32, seed=3), make_images(3, 1, 32, seed=4, anomalous=True)])
    lam = trained.params.lam

    def energy(x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return energy_of(trained.model, x, x0, lam)[0]

    reckless = project(trained.model, x0, steps=1, step_size=1e6, lam=lam)  # overshoots: energy goes up
    assert (energy(reckless) > energy(x0)).any()
    previous = x0
    for steps in (1, 2, 3):
        careful = project(trained.model, x0, steps=steps, step_size=1e6, lam=lam, backtrack=30)
        assert (energy(careful) <= energy(previous) + 1e-3).all()
        previous = careful
    small = project(trained.model, x0, steps=3, step_size=1.0, lam=lam)  # a descending step is kept as is
    torch.testing.assert_close(
        project(trained.model, x0, steps=3, step_size=1.0, lam=lam, backtrack=4), small
    )


@pytest.mark.slow  # uses the trained VAE or calibrates on one (what training achieves)
def test_kl_weight_adds_the_kl_term_to_the_energy(trained, make_images) -> None:
    x0 = make_images(4, 1, 32, seed=4, anomalous=True)
    x = (x0 + 0.1).clamp(0, 1)
    trained.model.eval()
    with torch.no_grad():
        recon, mu, logvar = trained.model(x)
        sse, kl = vae_terms(x, recon, mu, logvar)
        seeds = energy_of(trained.model, x, x0, 0.5)[0]
        elbo = energy_of(trained.model, x, x0, 0.5, kl_weight=2.0)[0]
    l1 = (x - x0).abs().flatten(1).sum(dim=1)
    torch.testing.assert_close(seeds, sse + 0.5 * l1)
    torch.testing.assert_close(elbo, sse + 2.0 * kl + 0.5 * l1)
    assert (kl > 0).all()
    # the projection under the ELBO energy descends that energy, and differs from the seed's
    with_kl = project(trained.model, x0, steps=5, step_size=1.0, lam=0.05, kl_weight=1.0)
    without = project(trained.model, x0, steps=5, step_size=1.0, lam=0.05)
    assert not torch.allclose(with_kl, without)
    with torch.no_grad():
        before = energy_of(trained.model, x0, x0, 0.05, kl_weight=1.0)[0]
        after = energy_of(trained.model, with_kl, x0, 0.05, kl_weight=1.0)[0]
    assert (after < before).all()
