"""Defect masks drawn in the dashboard: strokes to a binary mask, PNG files under the dataset's ground_truth
folder, and a red overlay to draw on. Paths are built only from checked names and stay inside the root."""

from __future__ import annotations

import os
import re
import secrets
from pathlib import Path, PurePosixPath

import numpy as np
from PIL import Image

from engine.data.types import NORMAL, DatasetError

DRAW_COLOR = "#ff0000"  # strokes in this colour add to the mask
ERASE_COLOR = "#0000ff"  # strokes in this colour remove from it
DEFECT_PATTERN = re.compile(r"[A-Za-z0-9_\-][A-Za-z0-9_. \-]{0,63}")


def check_defect_type(name: str) -> str:
    """A defect type usable as a folder name: 1-64 letters, digits, spaces, '_', '-', '.', not starting with '.'
    (spaces around it are dropped, runs of them inside become one: 'dark  area ' is 'dark area')."""
    name = " ".join((name or "").split())
    if not DEFECT_PATTERN.fullmatch(name):
        raise DatasetError(
            f"bad defect type {name!r}: use 1-64 letters, digits, spaces, '_', '-' or '.', not starting with '.'"
        )
    if name == NORMAL:
        raise DatasetError(f"defect type {NORMAL!r} means normal; pick another name for a defect")
    return name


def inside(root: Path, relpath: str) -> Path:
    """`root / relpath`, refusing absolute paths and anything that resolves outside `root`."""
    root = Path(root).resolve()
    parts = PurePosixPath(relpath.replace("\\", "/"))
    if parts.is_absolute() or ".." in parts.parts:
        raise DatasetError(f"path {relpath!r} must be relative and stay inside {root}")
    path = (root / parts).resolve()
    if root not in path.parents and path != root:
        raise DatasetError(f"path {relpath!r} leaves the dataset folder {root}")
    return path


def apply_strokes(
    base: np.ndarray | None, strokes_rgba: np.ndarray | None, height: int, width: int
) -> np.ndarray:
    """The mask (height, width) bool after painting canvas strokes (h, w, 4) over `base`.

    Opaque pixels closer to DRAW_COLOR set the mask, those closer to ERASE_COLOR clear it; later strokes
    already cover earlier ones in the canvas image, so the order of drawing and erasing is kept."""
    mask = np.zeros((height, width), dtype=bool) if base is None else base.astype(bool).copy()
    if strokes_rgba is None:
        return mask
    rgba = np.asarray(strokes_rgba)
    if rgba.ndim != 3 or rgba.shape[2] != 4:
        raise ValueError(f"canvas image must be (h, w, 4) RGBA, got shape {rgba.shape}")
    if rgba.shape[:2] != (height, width):
        rgba = np.asarray(
            Image.fromarray(rgba.astype(np.uint8), "RGBA").resize((width, height), Image.Resampling.NEAREST)
        )
    opaque = rgba[..., 3] >= 128
    red, blue = rgba[..., 0].astype(int), rgba[..., 2].astype(int)
    mask[opaque & (red > blue)] = True
    mask[opaque & (blue > red)] = False
    return mask


def overlay(image: np.ndarray, mask: np.ndarray | None, alpha: float = 0.45) -> np.ndarray:
    """An RGB uint8 picture of `image` ((H, W) or (H, W, 3) uint8) with the mask tinted red."""
    rgb = np.repeat(image[..., None], 3, axis=2) if image.ndim == 2 else image[..., :3]
    out = rgb.astype(np.float32)
    if mask is not None and mask.any():
        red = np.array([255.0, 0.0, 0.0])
        out[mask] = (1 - alpha) * out[mask] + alpha * red
    return out.round().astype(np.uint8)


def load_mask(root: Path, mask_relpath: str | None, height: int, width: int) -> np.ndarray | None:
    """A stored mask as (height, width) bool (resized nearest when its size differs), or None."""
    if not mask_relpath:
        return None
    path = inside(root, mask_relpath)
    if not path.is_file():
        return None
    with Image.open(path) as image:
        gray = image.convert("L")
        if gray.size != (width, height):
            gray = gray.resize((width, height), Image.Resampling.NEAREST)
        array = np.asarray(gray)
    return array >= 128 if array.max() > 1 else array > 0


def save_mask(root: Path, image_relpath: str, defect_type: str, image_id: int, mask: np.ndarray) -> str:
    """Write a 0/255 PNG under `ground_truth/<defect_type>/`; returns its path relative to `root`.

    Every save gets a new file name, so a save refused as a conflict never overwrites anyone's mask."""
    defect = check_defect_type(defect_type)
    stem = re.sub(r"[^A-Za-z0-9_.\-]", "_", PurePosixPath(image_relpath).stem) or "image"
    relpath = f"ground_truth/{defect}/{stem}_{image_id}_{secrets.token_hex(4)}_mask.png"
    path = inside(root, relpath)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    Image.fromarray(np.where(mask, 255, 0).astype(np.uint8), "L").save(tmp, format="PNG")
    os.replace(tmp, path)
    return relpath


def remove_mask(root: Path, mask_relpath: str) -> None:
    """Delete a mask file written by `save_mask` (after a refused save)."""
    path = inside(root, mask_relpath)
    path.unlink(missing_ok=True)
