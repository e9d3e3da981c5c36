"""One line per method for people choosing one (the Train page's picker); torch-free, keys as in METHODS."""

from __future__ import annotations

DESCRIPTIONS: dict[str, str] = {
    "autoencoder": "a convolutional autoencoder of normal images; score = reconstruction error "
    "(Sakurada & Yairi 2014)",
    "vae": "a convolutional VAE of normal images; score = its ELBO or reconstruction term (Kingma & Welling 2014)",
    "vae_fusion": "a VAE scored by image-space SSIM error and code distance to the normal centroid, fused",
    "vae_projection": "moves each input down the VAE energy until it looks normal; map = what changed "
    "(Dehaene et al. 2020)",
    "anogan": "a DCGAN of normal images; searches the latent code closest to each input (Schlegl et al. 2017)",
    "vaegan": "a VAE with a GAN discriminator, optionally its Grad-CAM attention on the error (Larsen et al. 2016)",
    "deep_svdd": "maps normal images close to a centre; semi mode pushes labeled anomalies away "
    "(Ruff et al. 2018, Deep SAD 2020)",
    "padim": "a Gaussian per patch position over pretrained CNN features (Defard et al. 2020)",
    "patchcore": "a coreset memory bank of pretrained patch features; score = distance to the nearest "
    "(Roth et al. 2022)",
    "cutpaste": "a ResNet taught to spot cut-and-pasted patches; score = feature distance to normal "
    "(Li et al. 2021)",
    "simclr_local": "SimCLR features with locally patched copies as extra negatives; score = feature distance "
    "(Chen et al. 2020)",
}

# Fitted in one pass over pretrained features, without a training loss: what they log as "loss" is a statistic of
# the fit (PaDiM's mean fit distance, PatchCore's coreset radius), which the Train page does not call a loss.
WITHOUT_LOSS = frozenset({"padim", "patchcore"})

ENSEMBLE = "ensemble"  # the method key of runs combined from saved runs (engine/ensemble.py), never trained
ENSEMBLE_DESCRIPTION = (
    "saved runs of one dataset combined: scores normalised per run, fused by a rule (seed 000's idea)"
)


def describe(method: str) -> str:
    """The one-line description of `method`, or a ValueError listing the described keys."""
    try:
        return DESCRIPTIONS[method]
    except KeyError:
        raise ValueError(f"no description of method {method!r}; described: {sorted(DESCRIPTIONS)}") from None
