"""Registry of detection methods: one hand-written key per method, used everywhere (CLI, MLflow, store, UI)."""

from __future__ import annotations

from engine.methods.anogan import AnoGan
from engine.methods.autoencoder import Autoencoder
from engine.methods.base import BaseMethod, EpochLog, Prediction, make_params
from engine.methods.cutpaste import CutPaste
from engine.methods.deep_svdd import DeepSvdd
from engine.methods.padim import Padim
from engine.methods.patchcore import Patchcore
from engine.methods.simclr_local import SimclrLocal
from engine.methods.vae import Vae
from engine.methods.vae_fusion import VaeFusion
from engine.methods.vae_projection import VaeProjection
from engine.methods.vaegan import VaeGan

METHODS: dict[str, type[BaseMethod]] = {
    "autoencoder": Autoencoder,
    "vae": Vae,
    "vae_fusion": VaeFusion,
    "vae_projection": VaeProjection,
    "anogan": AnoGan,
    "vaegan": VaeGan,
    "deep_svdd": DeepSvdd,
    "padim": Padim,
    "patchcore": Patchcore,
    "cutpaste": CutPaste,
    "simclr_local": SimclrLocal,
}


def get_method(key: str) -> type[BaseMethod]:
    """The method class for `key`, or a ValueError listing the valid keys."""
    try:
        return METHODS[key]
    except KeyError:
        raise ValueError(f"unknown method {key!r}; choose from {sorted(METHODS)}") from None


__all__ = ["METHODS", "BaseMethod", "EpochLog", "Prediction", "get_method", "make_params"]
