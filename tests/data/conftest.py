"""Tiny seeded image folders in MVTec AD layout for the data tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image


def write_image(path: Path, size: tuple[int, int] = (16, 16), mode: str = "RGB", seed: int = 0) -> Path:
    """A random image (distinct per seed) saved by suffix; returns the path."""
    rng = np.random.default_rng(seed)
    shape = (size[1], size[0], 3) if mode == "RGB" else (size[1], size[0])
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode=mode).save(path)
    return path


def write_mask(path: Path, size: tuple[int, int] = (16, 16)) -> Path:
    """A 0/255 mask whose left half is set."""
    pixels = np.zeros((size[1], size[0]), dtype=np.uint8)
    pixels[:, : size[0] // 2] = 255
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)
    return path


def build_mvtec(
    root: Path,
    n_train: int = 4,
    n_good: int = 2,
    defects: dict[str, int] | None = None,
    mode: str = "RGB",
    size: tuple[int, int] = (16, 16),
) -> Path:
    """train/good, test/good, test/<type> and ground_truth/<type>/<stem>_mask.png; every image distinct."""
    seed = 0
    for i in range(n_train):
        write_image(root / "train" / "good" / f"{i:03d}.png", size, mode, seed := seed + 1)
    for i in range(n_good):
        write_image(root / "test" / "good" / f"{i:03d}.png", size, mode, seed := seed + 1)
    for defect, count in (defects if defects is not None else {"crack": 2}).items():
        for i in range(count):
            write_image(root / "test" / defect / f"{i:03d}.png", size, mode, seed := seed + 1)
            write_mask(root / "ground_truth" / defect / f"{i:03d}_mask.png", size)
    return root


@pytest.fixture
def mvtec_folder(tmp_path: Path) -> Callable[..., Path]:
    """Factory: `mvtec_folder(name="cat", **build_mvtec kwargs)` builds a category folder under tmp_path."""

    def make(name: str = "cat", **kwargs) -> Path:
        return build_mvtec(tmp_path / "src" / name, **kwargs)

    return make


@pytest.fixture
def image_file() -> Callable[..., Path]:
    """The `write_image(path, size, mode, seed)` helper as a fixture."""
    return write_image
