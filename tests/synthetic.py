"""A tiny synthetic category in MVTec AD layout: smooth textures, anomalies are bright squares with masks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def make_mvtec_folder(
    root: Path, n_train: int = 12, n_good: int = 4, n_bad: int = 4, size: int = 32, seed: int = 0
) -> Path:
    """Write `root/{train/good,test/good,test/spot,ground_truth/spot}` and return root."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size

    def texture() -> np.ndarray:
        phase = rng.uniform(0, 2 * np.pi)
        base = 0.5 + 0.2 * np.sin(8 * np.pi * xx + phase) + rng.normal(0, 0.03, (size, size))
        return np.clip(base, 0, 1)

    def save(path: Path, array: np.ndarray) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray((array * 255).astype(np.uint8)).save(path)

    for i in range(n_train):
        save(root / "train" / "good" / f"{i:03d}.png", texture())
    for i in range(n_good):
        save(root / "test" / "good" / f"{i:03d}.png", texture())
    for i in range(n_bad):
        image, mask = texture(), np.zeros((size, size))
        y, x = rng.integers(2, size - size // 4 - 2, 2)
        mask[y : y + size // 4, x : x + size // 4] = 1
        save(root / "test" / "spot" / f"{i:03d}.png", np.where(mask > 0, 1.0, image))
        save(root / "ground_truth" / "spot" / f"{i:03d}_mask.png", mask)
    return root
