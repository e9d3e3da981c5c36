"""Small pictures for the pages: thumbnails of image files and of loaded image tensors, as PNG bytes."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image


def png(array: np.ndarray) -> bytes:
    """PNG bytes of an (H, W) or (H, W, 3) uint8 array."""
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def file_thumbnail(path: Path, size: int = 96) -> bytes:
    """A PNG thumbnail (longer side `size`) of an image file; a grey tile when it cannot be read."""
    try:
        with Image.open(path) as image:
            image = image.convert("RGB") if image.mode not in ("L", "RGB") else image.copy()
    except (OSError, ValueError):
        return png(np.full((size, size), 128, dtype=np.uint8))
    image.thumbnail((size, size), Image.Resampling.BILINEAR)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def read_rgb(path: Path) -> np.ndarray:
    """An image file as (H, W, 3) uint8."""
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def resized(array: np.ndarray, width: int, height: int) -> Image.Image:
    """A PIL image of an (H, W[, 3]) uint8 array at (width, height)."""
    return Image.fromarray(array).resize((width, height), Image.Resampling.BILINEAR)


def tensor_thumbnails(images: object, indices: list[int], size: int = 96) -> list[bytes]:
    """PNG thumbnails of (N, C, H, W) float images in [0, 1] (a torch tensor or array) at `indices`."""
    array = np.asarray(images[indices] if len(indices) else images[:0])  # (K, C, H, W)
    out = []
    for item in array:
        pixels = np.clip(np.round(item * 255), 0, 255).astype(np.uint8)  # (C, H, W)
        pixels = pixels[0] if pixels.shape[0] == 1 else pixels.transpose(1, 2, 0)
        image = Image.fromarray(pixels)
        image = image.resize(
            (size, size), Image.Resampling.NEAREST if image.width < size else Image.Resampling.BILINEAR
        )
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        out.append(buffer.getvalue())
    return out
