"""read_image: validation (decodable, size bounds before decoding), mode normalisation, hashing."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import torch
from PIL import Image, ImageFile

from engine.data.images import MAX_SIDE, image_to_tensor, read_image
from engine.data.types import DatasetError


def test_rgb_image_info_and_hash(tmp_path, image_file):
    path = image_file(tmp_path / "a.png", (20, 12), "RGB", seed=1)
    image, info = read_image(path)
    assert image.mode == "RGB" and image.size == (20, 12)
    assert (info.width, info.height, info.channels) == (20, 12, 3)
    assert info.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


def test_grayscale_and_gray_rgb_are_one_channel(tmp_path, image_file):
    _, info = read_image(image_file(tmp_path / "g.png", mode="L"))
    assert info.channels == 1
    gray = np.random.default_rng(0).integers(0, 256, (16, 16), dtype=np.uint8)
    Image.fromarray(np.stack([gray] * 3, axis=-1)).save(tmp_path / "rgb_gray.png")
    image, info = read_image(tmp_path / "rgb_gray.png")
    assert image.mode == "L" and info.channels == 1
    assert np.array_equal(np.asarray(image), gray)


def test_rgba_is_composited_over_black(tmp_path):
    pixels = np.zeros((16, 16, 4), dtype=np.uint8)
    pixels[..., 0] = 200  # red everywhere
    pixels[:8, :, 3] = 255  # top half opaque, bottom half transparent
    Image.fromarray(pixels, mode="RGBA").save(tmp_path / "a.png")
    image, info = read_image(tmp_path / "a.png")
    assert image.mode == "RGB" and info.channels == 3
    out = np.asarray(image)
    assert out[0, 0].tolist() == [200, 0, 0] and out[15, 0].tolist() == [0, 0, 0]


def test_palette_and_16_bit_are_normalised(tmp_path, image_file):
    image_file(tmp_path / "rgb.png", seed=3)
    Image.open(tmp_path / "rgb.png").convert("P").save(tmp_path / "p.png")
    assert read_image(tmp_path / "p.png")[0].mode == "RGB"
    deep = np.full((10, 10), 65535, dtype=np.uint16)
    deep[0, 0] = 0
    Image.fromarray(deep).save(tmp_path / "deep.png")
    image, info = read_image(tmp_path / "deep.png")
    assert image.mode == "L" and info.channels == 1
    assert np.asarray(image)[0, 0] == 0 and np.asarray(image)[5, 5] == 255


def test_corrupt_file_is_refused_by_name(tmp_path):
    path = tmp_path / "broken.png"
    path.write_bytes(b"this is not an image at all")
    with pytest.raises(DatasetError, match="broken.png"):
        read_image(path)


def test_truncated_file_is_refused(tmp_path, image_file):
    data = image_file(tmp_path / "full.png", (64, 64), seed=4).read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(DatasetError, match=r"cut\.png.*(truncated|corrupt)"):
        read_image(tmp_path / "cut.png")


def test_huge_image_is_refused_before_decoding(tmp_path, monkeypatch):
    Image.new("L", (10_000, 10)).save(tmp_path / "wide.png")

    def no_decoding(self):
        raise AssertionError("pixels were decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    with pytest.raises(DatasetError, match=rf"wide\.png is 10000x10 px.*at most {MAX_SIDE}"):
        read_image(tmp_path / "wide.png")


def test_tiny_image_is_refused(tmp_path):
    Image.new("L", (4, 30)).save(tmp_path / "tiny.png")
    with pytest.raises(DatasetError, match="at least 8 px"):
        read_image(tmp_path / "tiny.png")


def test_missing_file_is_refused(tmp_path):
    with pytest.raises(DatasetError, match="nope.png"):
        read_image(tmp_path / "nope.png")


def test_image_to_tensor_shapes_and_mask_binarised():
    image = Image.fromarray(np.full((20, 30, 3), 255, dtype=np.uint8))
    tensor = image_to_tensor(image, channels=1, size=8)
    assert tensor.shape == (1, 8, 8) and torch.allclose(tensor, torch.ones(1, 8, 8))
    assert image_to_tensor(image, channels=3, size=16).shape == (3, 16, 16)
    mask = np.zeros((20, 20), dtype=np.uint8)
    mask[:, 10:] = 255
    out = image_to_tensor(Image.fromarray(mask), channels=1, size=8, mask=True)
    assert out.shape == (8, 8) and set(out.unique().tolist()) == {0.0, 1.0}
    assert out[:, :4].sum() == 0 and out[:, 4:].min() == 1
