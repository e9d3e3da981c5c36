"""Quality check on real data at the `cpu` preset: seed 000's fusion against a plain VAE, with the reason.

Seed 000 reports that fusing 1 - SSIM (image space) with the distance of the code to the normal centroid
(latent space) beats the SSIM-scored VAE on MVTec textures (mean detection rate .615 -> .641). On the PIPED
paper textures shared here (small dark impurities on 32 training images) it does not: the latent distance
ranks anomalies *below* normals (a VAE maps unfamiliar inputs towards the prior mean, which is where the
centroid of the normal codes also sits), and the fused decision follows whichever cue lies further from its
threshold, so the uninformative cue drags it towards chance. This test measures all of it and fails if the
explanation stops holding: if fusion starts beating the plain VAE here, the note in docs/results.md must change.
"""

from __future__ import annotations

import dataclasses

import pytest
import torch

from engine.data import load_dataset
from engine.data.loaders import make_loader
from engine.methods import get_method
from engine.methods.params import make_params
from engine.metrics import image_auroc

DATASET = "piped/pa_bdp01_tl"


def fitted(key: str, data, **overrides):
    cls = get_method(key)
    params = make_params(cls, "cpu", overrides)
    method = cls(params, (data.channels, data.image_size, data.image_size), seed=0)
    method.fit(make_loader(data.train.images, batch_size=params.batch_size, shuffle=True, seed=0))
    return method


def auroc(method, data) -> float:
    scores = method.predict_loader(torch.split(data.test.images, 32)).score
    return image_auroc(data.test.labels.numpy(), scores.numpy())


def test_fusion_against_plain_vae_on_piped(shared_datasets) -> None:
    data = load_dataset(str(shared_datasets / DATASET))
    vae = auroc(fitted("vae", data), data)

    fusion_model = fitted("vae_fusion", data, center_loss="false")
    by_score = {}
    for score in ("fusion", "ssim", "latent"):
        fusion_model.params = dataclasses.replace(fusion_model.params, score=score)
        by_score[score] = auroc(fusion_model, data)
    print(f"{DATASET} cpu preset: vae {vae:.3f}; vae_fusion {by_score}")

    assert vae > 0.8, f"the plain VAE should find PIPED impurities (AUROC {vae:.3f})"
    if by_score["fusion"] > vae:
        pytest.fail(
            f"fusion {by_score['fusion']:.3f} now beats the plain VAE {vae:.3f}: update the note in docs/results.md"
        )
    # Why fusion loses here: the image-space cue works, the latent-space cue is at or below chance ...
    assert by_score["ssim"] > 0.6 and by_score["latent"] < 0.55, by_score
    # ... and taking the decision further from its threshold lands between the two.
    assert by_score["latent"] <= by_score["fusion"] <= by_score["ssim"], by_score
