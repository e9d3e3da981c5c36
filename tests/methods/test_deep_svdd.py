"""Deep SVDD / Deep SAD: centre fix, the SAD loss, bias-free net, and labeled anomalies pushed away."""

from __future__ import annotations

import pytest
import torch

from engine.data.loaders import make_loader
from engine.methods.deep_svdd import DeepSvdd, deep_sad_loss, initial_center
from engine.methods.params import make_params

TINY = {"rep_dim": 8, "width": 8, "pretrain_epochs": 2, "epochs": 5, "batch_size": 8, "lr": 1e-3}


def fit(mode: str, make_images) -> DeepSvdd:
    method = DeepSvdd(make_params(DeepSvdd, "smoke", TINY | {"mode": mode}), (1, 32, 32), seed=0)
    train = make_loader(make_images(24, 1, 32, seed=1), batch_size=8, shuffle=True)
    labeled = make_loader(make_images(8, 1, 32, seed=2, anomalous=True), batch_size=4, shuffle=True)
    method.fit(train, labeled)
    return method


@pytest.fixture(scope="module")
def one_class(make_images) -> DeepSvdd:
    return fit("one_class", make_images)


@pytest.fixture(scope="module")
def semi(make_images) -> DeepSvdd:
    return fit("semi", make_images)


def test_initial_center_keeps_coordinates_away_from_zero() -> None:
    emb = torch.tensor([[0.04, -0.02, 1.0, 0.0], [0.0, -0.04, 3.0, 0.0]])
    torch.testing.assert_close(initial_center(emb, eps=0.1), torch.tensor([0.1, -0.1, 2.0, 0.1]))


def test_deep_sad_loss_on_hand_made_numbers() -> None:
    distances = torch.tensor([1.0, 3.0, 0.5, 4.0])
    is_anomaly = torch.tensor([False, False, True, True])
    expected = (1.0 + 3.0 + 2.0 / 0.5 + 2.0 / 4.0) / 4
    torch.testing.assert_close(deep_sad_loss(distances, is_anomaly, eta=2.0, eps=0.0), torch.tensor(expected))
    # Without labeled anomalies it is the one-class loss: the mean squared distance.
    torch.testing.assert_close(
        deep_sad_loss(distances, torch.zeros(4, dtype=torch.bool), 1.0), distances.mean()
    )


def test_network_is_bias_free() -> None:
    method = DeepSvdd(make_params(DeepSvdd, "smoke"), (3, 32, 32))
    assert not any(name.endswith("bias") for name, _ in method.net.named_parameters())


@pytest.mark.slow  # what training achieves
def test_semi_supervised_pushes_anomalies_further_than_one_class(one_class, semi, make_images) -> None:
    normal, anomalous = make_images(8, 1, 32, seed=3), make_images(8, 1, 32, seed=4, anomalous=True)

    def ratio(method: DeepSvdd) -> float:
        return (method.predict(anomalous).score.mean() / method.predict(normal).score.mean()).item()

    assert ratio(semi) > ratio(one_class) > 0
    assert any("ignores the labeled anomalies" in note for note in one_class.notes)


def test_score_is_the_squared_distance_and_the_map_points_at_the_defect(semi, make_images) -> None:
    images = make_images(8, 1, 32, seed=4, anomalous=True)
    pred = semi.predict(images).check(images)
    torch.testing.assert_close(pred.score, ((pred.embedding - semi.centroid) ** 2).sum(dim=1))
    torch.testing.assert_close(pred.anomaly_map.flatten(1).amax(dim=1), pred.score)
    square = images[:, 0] == 1.0
    assert pred.attention[square].mean() > pred.attention[~square].mean()


def test_semi_without_labeled_anomalies_trains_one_class_and_says_so(make_images) -> None:
    method = DeepSvdd(make_params(DeepSvdd, "smoke", {"mode": "semi"}), (1, 32, 32))
    method.fit(make_loader(make_images(8, 1, 32), batch_size=8))
    assert method.notes and "no labeled anomalies" in method.notes[0]
    assert method.uses_labeled_anomalies


def test_unknown_mode_lists_the_choices() -> None:
    with pytest.raises(ValueError, match=r"choose from \['one_class', 'semi'\]"):
        make_params(DeepSvdd, "cpu", {"mode": "sad"})
