"""Tiny seeded datasets in MVTec AD layout for tests: noisy gradients, defects are bright squares with masks."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image


def normal_image(rng: np.random.Generator, size: int, channels: int) -> np.ndarray:
    """(size, size[, 3]) uint8: a diagonal gradient plus noise."""
    ramp = np.add.outer(np.arange(size), np.arange(size)) / (2 * size)
    base = 0.3 + 0.4 * ramp + rng.normal(0, 0.03, (size, size))
    if channels == 3:
        base = np.stack([base, base * 0.9, base * 0.8], axis=-1)
    return (np.clip(base, 0, 1) * 255).astype(np.uint8)


def defect(image: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The image with a bright square pasted in, and its 0/255 mask."""
    size = image.shape[0]
    side = max(3, size // 5)
    top, left = rng.integers(0, size - side, size=2)
    out = image.copy()
    out[top : top + side, left : left + side] = 250
    mask = np.zeros((size, size), dtype=np.uint8)
    mask[top : top + side, left : left + side] = 255
    return out, mask


def make_mvtec_folder(
    root: Path,
    n_train: int = 16,
    n_good: int = 6,
    defects: dict[str, int] | None = None,
    size: int = 32,
    channels: int = 3,
    seed: int = 0,
) -> Path:
    """Write `root/train/good`, `root/test/good`, `root/test/<type>` and `root/ground_truth/<type>`."""
    defects = {"square": 6} if defects is None else defects
    rng = np.random.default_rng(seed)
    root = Path(root)
    for i in range(n_train):
        _save(root / "train" / "good" / f"{i:03d}.png", normal_image(rng, size, channels))
    for i in range(n_good):
        _save(root / "test" / "good" / f"{i:03d}.png", normal_image(rng, size, channels))
    for kind, count in defects.items():
        for i in range(count):
            image, mask = defect(normal_image(rng, size, channels), rng)
            _save(root / "test" / kind / f"{i:03d}.png", image)
            _save(root / "ground_truth" / kind / f"{i:03d}_mask.png", mask)
    return root


def make_flat_zip(n: int = 6, size: int = 32, seed: int = 1, extra: dict[str, bytes] | None = None) -> bytes:
    """A zip of `n` normal PNGs (plus `extra` members, e.g. a corrupt file) in memory."""
    rng = np.random.default_rng(seed)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for i in range(n):
            archive.writestr(f"img_{i:02d}.png", png_bytes(normal_image(rng, size, 3)))
        for name, data in (extra or {}).items():
            archive.writestr(name, data)
    return buffer.getvalue()


def png_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def _save(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def make_sized_folder(
    root: Path, sizes: list[tuple[int, int]], n_train: int = 4, n_test: int = 2, seed: int = 0
) -> Path:
    """MVTec layout of grayscale images at their own (H, W) sizes, cycling through `sizes`: smooth gradients
    plus noise; each defect image has a 12 px bright square (and its mask) at (40, 30)."""
    rng = np.random.default_rng(seed)

    def normal(height: int, width: int) -> np.ndarray:
        ramp = np.add.outer(np.arange(height), np.arange(width)) / (height + width)
        return (np.clip(0.3 + 0.4 * ramp + rng.normal(0, 0.03, (height, width)), 0, 1) * 255).astype(np.uint8)

    root = Path(root)
    for i in range(n_train):
        _save(root / "train" / "good" / f"{i:03d}.png", normal(*sizes[i % len(sizes)]))
    for i in range(n_test):
        size = sizes[i % len(sizes)]
        _save(root / "test" / "good" / f"{i:03d}.png", normal(*size))
        pixels, mask = normal(*size), np.zeros(size, dtype=np.uint8)
        pixels[40:52, 30:42], mask[40:52, 30:42] = 250, 255
        _save(root / "test" / "defect" / f"{i:03d}.png", pixels)
        _save(root / "ground_truth" / "defect" / f"{i:03d}_mask.png", mask)
    return root
