import base64
import io

import numpy as np
from PIL import Image

from dashboard import pictures


def test_to_uint8_and_rgb_from_channel_first_floats():
    grey = np.full((1, 4, 5), 0.5, dtype=np.float32)
    assert pictures.to_uint8(grey).shape == (4, 5) and pictures.to_uint8(grey)[0, 0] == 128
    colour = np.zeros((3, 4, 5), dtype=np.float32)
    colour[0] = 1.0
    rgb = pictures.to_rgb(colour)
    assert rgb.shape == (4, 5, 3) and rgb[0, 0].tolist() == [255, 0, 0]
    assert pictures.to_rgb(grey).shape == (4, 5, 3)


def test_heat_is_dark_for_low_and_bright_for_high_with_a_fixed_scale():
    values = np.array([[0.0, 1.0], [2.0, 4.0]])
    hot = pictures.heat(values, lo=0.0, hi=2.0)
    brightness = hot.sum(axis=-1)
    assert brightness[0, 0] < brightness[0, 1] < brightness[1, 0] == brightness[1, 1]  # clipped at hi
    assert (
        pictures.heat(np.zeros((2, 2))).sum() == pictures.heat(np.zeros((2, 2)), 0, 1).sum()
    )  # flat: no NaN


def test_overlay_resizes_the_map_and_outline_marks_the_mask_border():
    image = np.zeros((3, 8, 8), dtype=np.float32)
    blended = pictures.overlay(image, np.ones((4, 4)), alpha=0.5)
    assert blended.shape == (8, 8, 3)
    mask = np.zeros((8, 8))
    mask[2:6, 2:6] = 1
    drawn = pictures.outline(image, mask)
    assert (
        drawn[2, 2].tolist() == [0, 220, 90]
        and drawn[3, 3].tolist() == [0, 0, 0]
        and drawn[0, 0].tolist() == [0, 0, 0]
    )


def test_png_bytes_resize_and_data_url_round_trip():
    png = pictures.png_bytes(np.zeros((16, 8), np.uint8), size=32)
    assert Image.open(io.BytesIO(png)).size == (16, 32)
    url = pictures.data_url(png)
    assert url.startswith("data:image/png;base64,") and base64.b64decode(url.split(",", 1)[1]) == png
