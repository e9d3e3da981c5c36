"""The Label canvas's background is the image with its saved mask tinted, as a PNG of the canvas's size: the
same picture the canvas was given before it was cached."""

import io

import numpy as np
from PIL import Image

from dashboard.label_canvas import background_png
from dashboard.thumbs import resized
from engine.data.masks import overlay


def test_the_background_is_the_tinted_image_at_the_canvas_size():
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, size=(40, 60, 3), dtype=np.uint8)
    mask = np.zeros((40, 60), dtype=np.uint8)
    mask[10:20, 30:50] = 1
    png = background_png(pixels, mask, 90, 60)
    with Image.open(io.BytesIO(png)) as decoded:
        assert decoded.size == (90, 60)
        shown = np.asarray(decoded.convert("RGBA"))
    expected = np.asarray(resized(overlay(pixels, mask), 90, 60).convert("RGBA"))
    assert np.array_equal(shown, expected)
    with Image.open(io.BytesIO(background_png(pixels, None, 90, 60))) as untinted:  # the mask is in the key
        assert not np.array_equal(shown, np.asarray(untinted.convert("RGBA")))
