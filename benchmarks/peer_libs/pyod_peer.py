"""PyOD's AutoEncoder, VAE, DeepSVDD and AnoGAN as peers: each fitted on flattened, downsized train images with
the library's defaults except epochs, batch size and seed, and scored with our metrics (image scores only)."""

from __future__ import annotations

import contextlib
import io
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from benchmarks.peer_libs.folders import FolderData
from benchmarks.peer_libs.settings import PYOD_METHODS, Outcome, Settings
from engine.metrics import image_auroc


def load_flat(paths: Sequence[Path], size: int, channels: int) -> np.ndarray:
    """(N, channels * size * size) float32 in [0, 1]: each image resized (bilinear) and flattened."""
    mode = "L" if channels == 1 else "RGB"
    out = np.empty((len(paths), channels * size * size), dtype=np.float32)
    for i, path in enumerate(paths):
        with Image.open(path) as image:
            small = image.convert(mode).resize((size, size), Image.Resampling.BILINEAR)
        out[i] = np.asarray(small, dtype=np.float32).reshape(-1) / 255.0
    return out


def _pyod_model(
    method: str, n_features: int, settings: Settings, seed: int, device: str
) -> tuple[object, list[str]]:
    """The PyOD detector with its library defaults except epochs, batch size and seed."""
    torch_device = torch.device("cuda" if device.startswith("cuda") else "cpu")
    b = settings.batch_size
    if method == "autoencoder":
        from pyod.models.auto_encoder import AutoEncoder

        model = AutoEncoder(
            epoch_num=settings.ae_epochs, batch_size=b, random_state=seed, verbose=0, device=torch_device
        )
        return model, [f"{settings.ae_epochs} epochs, hidden [64, 32] (pyod default)"]
    if method == "vae":
        from pyod.models.vae import VAE

        model = VAE(
            epoch_num=settings.vae_epochs, batch_size=b, random_state=seed, verbose=0, device=torch_device
        )
        return model, [f"{settings.vae_epochs} epochs, latent 2 (pyod default)"]
    if method == "deep_svdd":
        from pyod.models.deep_svdd import DeepSVDD

        model = DeepSVDD(
            n_features=n_features, epochs=settings.svdd_epochs, batch_size=b, random_state=seed, verbose=0
        )
        return model, [f"{settings.svdd_epochs} epochs, hidden [64, 32] (pyod default), CPU only in pyod"]
    if method == "anogan":
        from pyod.models.anogan import AnoGAN

        model = AnoGAN(
            epochs=settings.anogan_epochs,
            epochs_query=settings.anogan_query_steps,
            batch_size=b,
            verbose=0,
            device=torch_device,
        )
        return model, [
            f"{settings.anogan_epochs} epochs, {settings.anogan_query_steps} latent-search steps per train image; "
            "pyod scores test images without a per-image latent search"
        ]
    raise ValueError(f"unknown PyOD method {method!r}; choose from {PYOD_METHODS}")


def run_pyod(
    method: str, data: FolderData, image_size: int, settings: Settings, seed: int, device: str
) -> Outcome:
    """Fit a PyOD detector on flattened, downsized train images and score the test split."""
    size = settings.flat_size
    x_train = load_flat(data.train, size, data.channels)
    x_test = load_flat([t.path for t in data.test], size, data.channels)
    labels = np.array([t.label for t in data.test])
    torch.manual_seed(seed)
    np.random.seed(seed)  # DeepSVDD shuffles with numpy's global generator
    model, notes = _pyod_model(method, x_train.shape[1], settings, seed, device)
    kind = "gray" if data.channels == 1 else "RGB"
    notes.insert(
        0, f"flattened {size}x{size} {kind} ({x_train.shape[1]} features; suite image size {image_size})"
    )
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):  # some detectors print per epoch even at verbose=0
        model.fit(x_train)
    fit_seconds = time.perf_counter() - start
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        scores = np.asarray(model.decision_function(x_test), dtype=np.float64).reshape(-1)
    predict_seconds = time.perf_counter() - start
    notes.append("image scores only (no maps)")
    names = [f"test/{t.defect}/{t.path.name}" for t in data.test]
    return Outcome(
        image_auroc(labels, scores),
        None,
        fit_seconds,
        predict_seconds,
        len(labels),
        size,
        notes,
        names,
        labels,
        scores,
    )
