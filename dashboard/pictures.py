"""Pictures for the Inspect and Review pages: images, heat maps and overlays as uint8 arrays and PNG data."""

from __future__ import annotations

import base64
import io

import numpy as np
from PIL import Image, ImageDraw, ImageFont

# Anchor colours of a perceptual dark-to-bright map (close to matplotlib's "inferno"), interpolated linearly.
_HEAT_ANCHORS = np.array(
    [
        [0, 0, 4],
        [40, 11, 84],
        [101, 21, 110],
        [159, 42, 99],
        [212, 72, 66],
        [245, 125, 21],
        [250, 193, 39],
        [252, 255, 164],
    ],
    dtype=np.float64,
)
# The same colours as a Plotly colour scale (rgb() strings: Streamlit redraws some hex colours, see presentation.py)
HEAT_COLOURS = [
    [k / (len(_HEAT_ANCHORS) - 1), "rgb({:.0f}, {:.0f}, {:.0f})".format(*c)]
    for k, c in enumerate(_HEAT_ANCHORS)
]


def to_uint8(image: np.ndarray) -> np.ndarray:
    """(H, W) or (H, W, 3) uint8 of a (C, H, W) / (H, W) float image in [0, 1] (or already uint8)."""
    array = np.asarray(image)
    if array.ndim == 3 and array.shape[0] in (1, 3) and array.shape[-1] not in (1, 3):
        array = array.transpose(1, 2, 0)  # (H, W, C)
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.dtype != np.uint8:
        array = np.clip(np.round(np.asarray(array, dtype=np.float64) * 255), 0, 255).astype(np.uint8)
    return array


def to_rgb(image: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 of any image `to_uint8` accepts (grey images repeated on 3 channels)."""
    array = to_uint8(image)
    return np.repeat(array[..., None], 3, axis=-1) if array.ndim == 2 else array


def scale(values: np.ndarray, lo: float | None = None, hi: float | None = None) -> np.ndarray:
    """Values mapped linearly to [0, 1] between `lo` and `hi` (default: their min and max); NaN -> 0."""
    v = np.nan_to_num(np.asarray(values, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    lo = float(v.min()) if lo is None else lo
    hi = float(v.max()) if hi is None else hi
    if hi - lo < 1e-12:
        return np.zeros_like(v)
    return np.clip((v - lo) / (hi - lo), 0.0, 1.0)


def heat(values: np.ndarray, lo: float | None = None, hi: float | None = None) -> np.ndarray:
    """(H, W, 3) uint8 heat map of an (H, W) array (dark = low, bright yellow = high)."""
    t = scale(values, lo, hi) * (len(_HEAT_ANCHORS) - 1)  # (H, W)
    i = np.minimum(t.astype(int), len(_HEAT_ANCHORS) - 2)
    frac = (t - i)[..., None]
    rgb = _HEAT_ANCHORS[i] * (1 - frac) + _HEAT_ANCHORS[i + 1] * frac  # (H, W, 3)
    return np.round(rgb).astype(np.uint8)


def overlay(
    image: np.ndarray,
    values: np.ndarray,
    alpha: float = 0.5,
    lo: float | None = None,
    hi: float | None = None,
) -> np.ndarray:
    """(H, W, 3) uint8: the image blended with the heat map of `values` between `lo` and `hi` (default: their
    min and max), resized to the image if needed."""
    base = to_rgb(image)
    h, w = base.shape[:2]
    values = np.asarray(values, dtype=np.float32)
    if values.shape != (h, w):
        values = np.asarray(Image.fromarray(values).resize((w, h), Image.Resampling.BILINEAR))
    blended = (1 - alpha) * base + alpha * heat(values, lo, hi)
    return np.round(blended).astype(np.uint8)


def outline(image: np.ndarray, mask: np.ndarray, colour: tuple[int, int, int] = (0, 220, 90)) -> np.ndarray:
    """(H, W, 3) uint8: the image with the border of a binary (H, W) mask drawn in `colour`."""
    rgb = to_rgb(image).copy()
    inside = np.asarray(mask) > 0.5
    if inside.shape != rgb.shape[:2] or not inside.any():
        return rgb
    padded = np.pad(inside, 1, mode="edge")
    interior = padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:]
    rgb[inside & ~interior] = colour
    return rgb


def resized(image: np.ndarray, size: int) -> np.ndarray:
    """The image (any form `to_uint8` accepts) as uint8 with its longer side `size` (pixels kept sharp when
    enlarged: nearest neighbour up, bilinear down)."""
    picture = Image.fromarray(to_uint8(image))
    if max(picture.size) != size:
        ratio = size / max(picture.size)
        new = (max(1, round(picture.width * ratio)), max(1, round(picture.height * ratio)))
        resample = Image.Resampling.NEAREST if ratio > 1 else Image.Resampling.BILINEAR
        picture = picture.resize(new, resample)
    return np.asarray(picture)


def own_extent(values: np.ndarray) -> np.ndarray:
    """An (H, W) map without the NaN rows and columns a run's artifact pads it with at the bottom and right (a
    test split of several image sizes is stored padded to the largest): the map of its image alone."""
    array = np.asarray(values, dtype=np.float32)
    finite = np.isfinite(array)
    if array.ndim != 2 or finite.all() or not finite.any():
        return array
    rows, cols = np.flatnonzero(finite.any(axis=1)), np.flatnonzero(finite.any(axis=0))
    return array[: rows[-1] + 1, : cols[-1] + 1]


def at_size(values: np.ndarray, height: int, width: int) -> np.ndarray:
    """An (H, W) map at `height` x `width` (float32, padding cropped, bilinear): a map laid over its image at the
    image's own resolution and aspect ratio, whatever size the method worked at."""
    array = np.nan_to_num(own_extent(values), nan=0.0, posinf=0.0, neginf=0.0)
    if array.shape == (height, width):
        return array
    return np.asarray(Image.fromarray(array, "F").resize((width, height), Image.Resampling.BILINEAR))


def mask_at_size(mask: np.ndarray, values: np.ndarray, height: int, width: int) -> np.ndarray:
    """A run's (H, W) mask of an image as bool at `height` x `width`, cropped like its map `values` (masks are
    stored padded with zeros where maps are padded with NaN)."""
    extent = own_extent(values).shape
    inside = np.asarray(mask, dtype=np.float32)[: extent[0], : extent[1]] > 0.5
    if inside.shape == (height, width):
        return inside
    drawn = Image.fromarray(inside.astype(np.uint8) * 255).resize((width, height), Image.Resampling.NEAREST)
    return np.asarray(drawn) > 127


def with_colour_bar(rgb: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """(H, W + scale, 3) uint8: a heat picture (as `heat` draws it) with its colour scale at the right, the
    colours from `hi` (top) down to `lo` (bottom) and both values written beside it."""
    rgb = to_rgb(rgb)
    height, width = rgb.shape[:2]
    font = ImageFont.load_default(size=max(9, height // 14))
    labels = [f"{hi:.3g}", f"{lo:.3g}"]
    text_width = max(round(font.getlength(t)) for t in labels)
    bar, gap = max(6, height // 16), max(3, height // 60)
    out = Image.new("RGB", (width + gap + bar + gap + text_width + gap, height), "white")
    out.paste(Image.fromarray(rgb), (0, 0))
    ramp = heat(np.linspace(1.0, 0.0, height)[:, None].repeat(bar, axis=1))  # (H, bar, 3), high at the top
    out.paste(Image.fromarray(ramp), (width + gap, 0))
    draw = ImageDraw.Draw(out)
    left = width + 2 * gap + bar
    draw.text((left, 0), labels[0], fill="black", font=font, anchor="lt")
    draw.text((left, height - 1), labels[1], fill="black", font=font, anchor="lb")
    return np.asarray(out)


def png_bytes(image: np.ndarray, size: int | None = None) -> bytes:
    """PNG of an image (any form `to_uint8` accepts), optionally resized so its longer side is `size`."""
    picture = Image.fromarray(resized(image, size) if size is not None else to_uint8(image))
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return buffer.getvalue()


def data_url(png: bytes) -> str:
    """A `data:image/png;base64,...` URL (for self-contained HTML and table image columns)."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")
