"""PatchCore: the greedy coreset covers the bank, chunked nearest neighbours are exact, the bank is capped."""

from __future__ import annotations

import pytest
import torch

from engine.data.loaders import make_loader
from engine.methods import patchcore
from engine.methods.params import make_params
from engine.methods.patchcore import Patchcore, greedy_coreset, nearest_neighbours

SIZE = 32


def clustered_bank(n: int = 2000, dim: int = 32, seed: int = 0) -> torch.Tensor:
    """Uneven clusters: a random subset under-samples the small ones, a k-center coreset does not."""
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(20, dim, generator=g) * 10
    sizes = torch.tensor([n // 2] + [n // 2 // 19] * 19)
    owner = torch.repeat_interleave(torch.arange(20), sizes)
    return centres[owner] + torch.randn(len(owner), dim, generator=g)


def coverage_radius(bank: torch.Tensor, subset: torch.Tensor) -> float:
    return torch.cdist(bank, subset).min(dim=1).values.max().item()


def test_coreset_is_smaller_and_covers_the_bank_better_than_random() -> None:
    bank = clustered_bank()
    chosen = greedy_coreset(bank, 100, projection_dim=16, generator=torch.Generator().manual_seed(0))
    assert chosen.shape == (100,) and chosen.unique().numel() == 100
    radius = coverage_radius(bank, bank[chosen])
    diameter = torch.cdist(bank, bank).max().item()
    randoms = [
        coverage_radius(
            bank, bank[torch.randperm(len(bank), generator=torch.Generator().manual_seed(s))[:100]]
        )
        for s in range(5)
    ]
    assert radius < 0.2 * diameter
    assert radius < min(randoms)


def test_chunked_nearest_neighbours_match_brute_force(monkeypatch: pytest.MonkeyPatch) -> None:
    g = torch.Generator().manual_seed(1)
    queries, bank = torch.randn(103, 8, generator=g), torch.randn(37, 8, generator=g)
    monkeypatch.setattr(patchcore, "CHUNK_ELEMENTS", 37 * 10)  # 10 query rows per chunk
    distance, index = nearest_neighbours(queries, bank)
    full = torch.cdist(queries, bank)
    torch.testing.assert_close(distance, full.min(dim=1).values)
    assert torch.equal(index, full.argmin(dim=1))


@pytest.fixture(scope="module")
def fitted(make_images) -> Patchcore:
    params = make_params(Patchcore, "smoke", {"max_bank": 300, "coreset_ratio": 0.25})
    method = Patchcore(params, (3, SIZE, SIZE), seed=0)
    method.fit(make_loader(make_images(24, 3, SIZE, seed=1), batch_size=8))  # 24 x 4 x 4 = 384 patches
    return method


def test_bank_is_capped_before_the_coreset(fitted: Patchcore) -> None:
    assert fitted.memory_bank.shape == (75, 152)  # 25 % of the 300 sampled patches, lite0 layer2 + layer3
    assert any("75 coreset patches from 300 of 384" in note for note in fitted.notes)


def test_bright_square_scores_higher(fitted: Patchcore, make_images) -> None:
    normal = make_images(6, 3, SIZE, seed=3)
    anomalous = normal.clone()
    anomalous[:, :, 4:12, 18:26] = 1.0
    pred_n, pred_a = fitted.predict(normal).check(normal), fitted.predict(anomalous).check(anomalous)
    assert pred_a.score.min() > pred_n.score.max()
    assert pred_a.anomaly_map[:, 4:12, 18:26].mean() > pred_a.anomaly_map[:, 20:, :10].mean()


def test_reweighting_only_shrinks_the_score(fitted: Patchcore, make_images) -> None:
    images = make_images(4, 3, SIZE, seed=5, anomalous=True)
    plain = Patchcore(make_params(Patchcore, "smoke", {"reweight": False}), (3, SIZE, SIZE), seed=0)
    plain.load_state_dict(fitted.state_dict())
    weighted, raw = fitted.predict(images).score, plain.predict(images).score
    assert (weighted <= raw).all() and (weighted >= raw * (1 - 1 / 9) - 1e-5).all()
