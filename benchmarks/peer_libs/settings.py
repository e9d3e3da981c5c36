"""The peer methods, their sizes per preset (`Settings`), and what a peer run returns (`Outcome`)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

ANOMALIB_METHODS = ["padim", "patchcore", "ganomaly"]
PYOD_METHODS = ["autoencoder", "vae", "deep_svdd", "anogan"]
ALL_METHODS = ANOMALIB_METHODS + PYOD_METHODS


@dataclass(frozen=True)
class Settings:
    """Sizes per preset; `cpu` keeps the five shared datasets at 128 px well under 40 minutes on 2 cores."""

    preset: str
    ganomaly_epochs: int
    patchcore_coreset: float  # fraction of patch features kept (anomalib's default and the paper's: 0.1)
    flat_size: int  # PyOD models see images resized to flat_size x flat_size, flattened
    ae_epochs: int
    vae_epochs: int
    svdd_epochs: int
    anogan_epochs: int
    anogan_query_steps: int  # latent-search steps per training image at the end of AnoGAN's fit
    batch_size: int = 32
    input_size: int = 224  # PaDiM / PatchCore backbone input px, our methods' default (0 = as loaded)
    padim_features: int = 0  # PaDiM's random channel subset; 0 = all, as ours keeps for lite0
    max_train: int | None = None  # cap on train images (smoke only)
    max_test_per_class: int | None = None  # cap on good and on defect test images (smoke only)


PRESETS = {
    "smoke": Settings(
        "smoke",
        2,
        0.1,
        16,
        2,
        2,
        2,
        2,
        2,
        batch_size=8,
        input_size=0,
        padim_features=32,
        max_train=16,
        max_test_per_class=8,
    ),
    "cpu": Settings("cpu", 15, 0.1, 32, 50, 50, 50, 50, 20),
}


@dataclass
class Outcome:
    """What a peer run returns before it becomes a row."""

    image_auroc: float | None
    pixel_auroc: float | None
    fit_seconds: float
    predict_seconds: float
    n_test: int
    image_size: int
    notes: list[str]
    names: list[str] = field(default_factory=list)  # test images as test/<defect>/<file>, in score order
    labels: np.ndarray | None = None  # (N,)
    scores: np.ndarray | None = None  # (N,)
