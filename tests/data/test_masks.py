import numpy as np
import pytest

from engine.data.masks import (
    apply_strokes,
    check_defect_type,
    inside,
    load_mask,
    overlay,
    remove_mask,
    save_mask,
)
from engine.data.types import DatasetError


def _rgba(h, w, color=None, box=None):
    out = np.zeros((h, w, 4), dtype=np.uint8)
    if color is not None:
        out[box] = [*color, 255]
    return out


def test_draw_then_erase_in_canvas_pixels_maps_to_image_pixels():
    strokes = _rgba(8, 8, (255, 0, 0), (slice(0, 4), slice(0, 8)))  # top half drawn
    strokes[0:2, 0:2] = [0, 0, 255, 255]  # then erased at the corner
    mask = apply_strokes(None, strokes, 4, 4)  # the canvas is twice the image size
    expected = np.zeros((4, 4), dtype=bool)
    expected[:2, :] = True
    expected[0, 0] = False
    np.testing.assert_array_equal(mask, expected)


def test_strokes_add_to_and_remove_from_an_existing_mask():
    base = np.ones((4, 4), dtype=bool)
    erased = apply_strokes(base, _rgba(4, 4, (0, 0, 255), (slice(0, 1), slice(None))), 4, 4)
    assert erased.sum() == 12 and base.all()  # base unchanged
    half_transparent = _rgba(4, 4)
    half_transparent[..., 0], half_transparent[..., 3] = 255, 60  # faint antialiasing edge: ignored
    assert not apply_strokes(None, half_transparent, 4, 4).any()
    with pytest.raises(ValueError, match="RGBA"):
        apply_strokes(None, np.zeros((4, 4, 3)), 4, 4)


def test_defect_type_and_paths_are_checked(tmp_path):
    assert check_defect_type(" scratch ") == "scratch"
    for bad in ("", "../x", ".hidden", "a/b", "good", "x" * 65):
        with pytest.raises(DatasetError):
            check_defect_type(bad)
    with pytest.raises(DatasetError, match="inside"):
        inside(tmp_path, "../outside.png")
    with pytest.raises(DatasetError):
        inside(tmp_path, "/etc/passwd")


def test_save_load_remove(tmp_path):
    mask = np.zeros((6, 5), dtype=bool)
    mask[1:3, 2:4] = True
    first = save_mask(tmp_path, "test/unlabeled/a b.png", "dent", 7, mask)
    second = save_mask(tmp_path, "test/unlabeled/a b.png", "dent", 7, mask)
    assert first != second and first.startswith("ground_truth/dent/a_b_7_") and first.endswith("_mask.png")
    np.testing.assert_array_equal(load_mask(tmp_path, first, 6, 5), mask)
    assert load_mask(tmp_path, first, 12, 10).sum() == 4 * mask.sum()  # resized nearest
    remove_mask(tmp_path, first)
    assert load_mask(tmp_path, first, 6, 5) is None


def test_overlay_tints_masked_pixels_red():
    image = np.full((2, 2), 100, dtype=np.uint8)
    mask = np.array([[True, False], [False, False]])
    out = overlay(image, mask)
    assert out.shape == (2, 2, 3)
    assert out[0, 0, 0] > 100 > out[0, 0, 1] and (out[1, 1] == 100).all()
