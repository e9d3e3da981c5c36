"""simclr_local: the SSIM filter drops background-only pastes, NT-Xent with extra negatives, encoder export."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from engine.data.loaders import make_loader
from engine.methods.components.backbone import load_backbone, pooled
from engine.methods.params import make_params
from engine.methods.simclr_local import Params, SimclrLocal, local_anomalies, nt_xent, simclr_view

SIZE = 64


def checkerboard(n: int, channels: int, size: int) -> torch.Tensor:
    """Fine textured content: 4 px checks with a little noise."""
    ys, xs = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    board = (((ys // 4) + (xs // 4)) % 2).float() * 0.6 + 0.2
    noise = 0.02 * torch.randn(n, channels, size, size, generator=torch.Generator().manual_seed(0))
    return (board + noise).clamp(0, 1)


@pytest.mark.parametrize("channels", [1, 3])
def test_ssim_filter_discards_flat_background_and_keeps_texture(channels: int) -> None:
    params = Params(max_attempts=3)
    flat = torch.full((16, channels, SIZE, SIZE), 0.4)
    _, ssim_flat, rejected_flat = local_anomalies(flat, params, torch.Generator().manual_seed(0))
    assert (ssim_flat >= params.ssim_threshold).all()  # nothing visible happened on a flat image ...
    assert rejected_flat == 16 * 3  # ... so every draw was discarded and redrawn

    textured = checkerboard(16, channels, SIZE)
    anomalies, ssim_tex, rejected_tex = local_anomalies(textured, params, torch.Generator().manual_seed(0))
    assert (ssim_tex < params.ssim_threshold).all() and rejected_tex == 0
    assert ((anomalies - textured).abs().flatten(1).amax(dim=1) > 0.1).all()


def test_without_the_filter_nothing_is_redrawn() -> None:
    flat = torch.full((4, 1, SIZE, SIZE), 0.4)
    _, _, rejected = local_anomalies(flat, Params(ssim_filter=False), torch.Generator().manual_seed(0))
    assert rejected == 0


def test_nt_xent_matches_a_hand_made_case() -> None:
    z1, z2 = torch.tensor([[1.0, 0.0], [0.0, 1.0]]), torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    no_extra = nt_xent(z1, z2, torch.zeros(0, 2), temperature=1.0)
    # Each anchor: positive sim 1, other two views sim 0 -> -log(e / (e + 2)).
    assert no_extra.item() == pytest.approx(-math.log(math.e / (math.e + 2)), rel=1e-5)
    hard = nt_xent(
        z1, z2, torch.tensor([[1.0, 0.1], [0.1, 1.0]]), temperature=1.0
    )  # near-copies as negatives
    assert hard.item() > no_extra.item()


def test_simclr_view_keeps_shape_and_varies() -> None:
    images = checkerboard(4, 3, 32)
    a, b = (
        simclr_view(images, torch.Generator().manual_seed(0)),
        simclr_view(images, torch.Generator().manual_seed(1)),
    )
    assert a.shape == images.shape and not torch.equal(a, b)
    assert a.min() >= 0 and a.max() <= 1


@pytest.fixture(scope="module")
def fitted(make_images) -> SimclrLocal:
    method = SimclrLocal(make_params(SimclrLocal, "smoke", {"epochs": 2}), (1, 32, 32), seed=0)
    method.fit(make_loader(make_images(16, 1, 32, seed=1), 8, shuffle=True))
    return method


@pytest.mark.slow  # uses the SimCLR-trained encoder (what training achieves)
def test_predict_gives_grad_cam_and_mahalanobis_score(fitted: SimclrLocal, make_images) -> None:
    images = make_images(4, 1, 32, seed=3, anomalous=True)
    with torch.no_grad():
        pred = fitted.predict(images).check(images)
    assert pred.attention.shape == (4, 32, 32) and pred.attention.min() >= 0 and pred.attention.max() <= 1
    assert (pred.score >= 0).all()
    torch.testing.assert_close(pred.anomaly_map, pred.attention * pred.score[:, None, None])
    assert any(note.startswith("SSIM filter (T=0.95)") for note in fitted.notes)


@pytest.mark.slow  # uses the SimCLR-trained encoder (what training achieves)
def test_saved_encoder_loads_as_a_backbone(fitted: SimclrLocal, tmp_path: Path, make_images) -> None:
    path = fitted.save_encoder(tmp_path / "simclr_encoder.pt")
    backbone, info = load_backbone(fitted.params.backbone, str(path), ("layer4",))
    assert info.source == f"file:{path}" and info.message == ""
    images = make_images(2, 1, 32, seed=4)
    backbone.eval()
    with torch.no_grad():
        torch.testing.assert_close(pooled(backbone(images)["layer4"]), fitted.features(images))
