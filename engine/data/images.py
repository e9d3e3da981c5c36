"""Reading one image file safely: size bounds before decoding, full decode, modes normalised to L or RGB."""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch import Tensor

from engine.data.types import DatasetError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
MIN_SIDE = 8
MAX_SIDE = 8192
MAX_FILE_BYTES = 50 * 1024 * 1024


@dataclass(frozen=True)
class ImageInfo:
    """Facts about one validated image file (size and channels after mode normalisation)."""

    width: int
    height: int
    channels: int  # 1 (grayscale) or 3 (RGB)
    sha256: str  # of the file bytes


def is_image_file(path: Path) -> bool:
    """A visible regular file with one of IMAGE_SUFFIXES (case-insensitive)."""
    return path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".") and path.is_file()


def read_image(path: Path, name: str | None = None) -> tuple[Image.Image, ImageInfo]:
    """Validate and decode one file; the image comes back in mode L or RGB. Raises DatasetError naming the
    file by `name` (e.g. its place in an upload, so no server path shows), else by its path."""
    path = Path(path)
    name = name or str(path)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise DatasetError(f"cannot read image {name}: {exc.strerror or exc}") from exc
    if size > MAX_FILE_BYTES:
        raise DatasetError(
            f"image {name} is {size / 2**20:.0f} MB; the limit is {MAX_FILE_BYTES // 2**20} MB"
        )
    data = path.read_bytes()
    image = decode_image(data, name)
    return image, ImageInfo(
        image.width, image.height, len(image.getbands()), hashlib.sha256(data).hexdigest()
    )


def header_size(path: Path, name: str | None = None) -> tuple[int, int]:
    """(width, height) from the file's header, without decoding its pixels; a file that is no image, or one
    outside the side bounds, raises DatasetError as `read_image` would (a truncated body is found when read)."""
    name = name or str(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                width, height = image.size
    except UnidentifiedImageError as exc:
        raise DatasetError(
            f"cannot decode image {name}: not in an image format this workbench reads"
        ) from exc
    except Image.DecompressionBombError as exc:
        raise DatasetError(f"cannot decode image {name}: not a readable image file ({exc})") from exc
    except OSError as exc:
        raise DatasetError(f"cannot read image {name}: {exc.strerror or exc}") from exc
    except (SyntaxError, ValueError) as exc:
        raise DatasetError(f"cannot decode image {name}: {exc}") from exc
    if max(width, height) > MAX_SIDE or min(width, height) < MIN_SIDE:
        raise DatasetError(
            f"image {name} is {width}x{height} px; each side must be {MIN_SIDE} to {MAX_SIDE} px"
        )
    return width, height


def decode_image(data: bytes, name: str) -> Image.Image:
    """Decode image bytes after checking the header size; `name` is used in error messages."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
    except UnidentifiedImageError as exc:  # its text names an in-memory object, not the file
        raise DatasetError(
            f"cannot decode image {name}: not in an image format this workbench reads"
        ) from exc
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise DatasetError(f"cannot decode image {name}: not a readable image file ({exc})") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise DatasetError(f"cannot decode image {name}: {exc}") from exc
    width, height = image.size
    if max(width, height) > MAX_SIDE:
        raise DatasetError(
            f"image {name} is {width}x{height} px; each side must be at most {MAX_SIDE} px "
            "(refused before decoding to guard against decompression bombs)"
        )
    if min(width, height) < MIN_SIDE:
        raise DatasetError(f"image {name} is {width}x{height} px; each side must be at least {MIN_SIDE} px")
    try:
        image.load()
    except Exception as exc:  # PIL raises OSError, SyntaxError, ValueError, ... for broken data
        raise DatasetError(f"cannot decode image {name}: truncated or corrupt data ({exc})") from exc
    try:
        return normalize_mode(image)
    except (OSError, ValueError) as exc:
        raise DatasetError(
            f"cannot convert image {name} (mode {image.mode}) to grayscale or RGB: {exc}"
        ) from exc


def normalize_mode(image: Image.Image) -> Image.Image:
    """L or RGB: alpha composited over black, 16-bit/float rescaled to 8 bit, RGB with equal channels -> L."""
    mode = image.mode
    if mode == "L":
        return image
    if mode == "1":
        return image.convert("L")
    if mode.startswith("I;16"):
        return Image.fromarray(_to_uint8(np.asarray(image), full_scale=65535.0), mode="L")
    if mode in ("I", "F"):
        return Image.fromarray(
            _to_uint8(np.asarray(image), full_scale=1.0 if mode == "F" else 255.0), mode="L"
        )
    if mode == "P" and "transparency" not in image.info:
        image = image.convert("RGB")
    elif mode != "RGB":
        has_alpha = "A" in image.getbands() or "a" in image.getbands() or mode == "P"
        image = image.convert("RGBA" if has_alpha else "RGB")
        if has_alpha:
            background = Image.new("RGBA", image.size, (0, 0, 0, 255))
            image = Image.alpha_composite(background, image).convert("RGB")
    pixels = np.asarray(image)  # (H, W, 3)
    if np.array_equal(pixels[..., 0], pixels[..., 1]) and np.array_equal(pixels[..., 1], pixels[..., 2]):
        return Image.fromarray(np.ascontiguousarray(pixels[..., 0]), mode="L")
    return image


def _to_uint8(values: np.ndarray, full_scale: float) -> np.ndarray:
    """Grayscale of any depth to uint8: `full_scale` maps to 255, or the maximum where values exceed it."""
    values = np.nan_to_num(values.astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    top = float(values.max()) if values.size else 0.0
    scale = 255.0 / max(full_scale, top)
    return np.clip(values * scale, 0, 255).round().astype(np.uint8)


def image_to_tensor(image: Image.Image, channels: int, size: int, *, mask: bool = False) -> Tensor:
    """(C, size, size) float32 in [0, 1] (bilinear, antialiased), or (size, size) in {0, 1} for a mask; with
    size 0 (NATIVE) the image keeps its own (H, W), unresized."""
    if mask:
        gray = np.asarray(image.convert("L") if image.mode != "L" else image)
        binary = Image.fromarray(((gray >= 128) if gray.max() > 1 else (gray > 0)).astype(np.uint8) * 255)
        resized = binary.resize((size, size), Image.Resampling.NEAREST) if size else binary
        return torch.from_numpy(np.asarray(resized) > 0).float()  # (H, W)
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels}")
    image = image.convert("L" if channels == 1 else "RGB")
    resized = image.resize((size, size), Image.Resampling.BILINEAR) if size else image
    array = np.asarray(resized, dtype=np.float32) / 255.0
    if channels == 1:
        return torch.from_numpy(array).unsqueeze(0)  # (1, H, W)
    return torch.from_numpy(array).permute(2, 0, 1).contiguous()  # (3, H, W)
