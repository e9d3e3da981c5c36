"""Pixel AUROC and PRO at each mask's own resolution: maps of another size are resized to their masks (never the
masks squashed to the maps), also for a run at a square size over images of several sizes."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from sklearn.metrics import roc_auc_score

from engine import metrics
from engine.compute import compute
from engine.run_inputs import load_run_inputs
from engine.runconfig import RunConfig
from tests.synthetic_mvtec import make_sized_folder


def _squashed(mask: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """The old path: a mask resized (nearest) to its map's size."""
    return np.asarray(Image.fromarray(mask.astype(np.uint8) * 255).resize(shape[::-1], Image.NEAREST)) > 127


def _bilinear(amap: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    return np.asarray(Image.fromarray(amap.astype(np.float32), "F").resize(shape[::-1], Image.BILINEAR))


def test_pixel_auroc_counts_every_pixel_of_each_mask_at_its_own_size():
    # image 1: an 8x8 mask, no defect, map 0.2 everywhere; image 2: a 4x4 mask, defect in its top-left 2x2,
    # map 0.8 everywhere. Both maps 2x2 (a method at a square size).
    masks = [np.zeros((8, 8), bool), np.zeros((4, 4), bool)]
    masks[1][:2, :2] = True
    maps = [np.full((2, 2), 0.2, np.float32), np.full((2, 2), 0.8, np.float32)]
    # by hand at the masks' resolution: 64 normals at 0.2 and 12 at 0.8; 4 defect pixels at 0.8 (ties count 1/2)
    assert metrics.pixel_auroc(masks, maps) == pytest.approx((64 + 0.5 * 12) / 76)
    # the masks squashed to 2x2 would count 4 normals at 0.2, 3 at 0.8 and 1 defect pixel: another number
    squashed = metrics.pixel_auroc([_squashed(m, (2, 2)) for m in masks], maps)
    assert squashed == pytest.approx((4 + 0.5 * 3) / 7)
    assert abs(squashed - (64 + 0.5 * 12) / 76) > 0.1


def test_maps_are_resized_bilinear_to_masks_of_two_sizes():
    rng = np.random.default_rng(0)
    masks = [np.zeros((48, 64), bool), np.zeros((30, 20), bool)]
    masks[0][10:20, 30:50] = True
    masks[1][3:6, 2:18] = True  # thin: squashing to 16x16 changes its share of the pixels
    maps = [rng.random((16, 16)).astype(np.float32) for _ in masks]
    maps[0][3:7, 7:13] += 0.5
    maps[1][1:4, 1:15] += 0.5
    at_masks = [_bilinear(a, m.shape) for m, a in zip(masks, maps, strict=True)]
    by_hand = roc_auc_score(
        np.concatenate([m.ravel() for m in masks]), np.concatenate([a.ravel() for a in at_masks])
    )
    assert metrics.pixel_auroc(masks, maps) == pytest.approx(by_hand, abs=1e-9)
    assert metrics.pro_score(masks, maps) == pytest.approx(metrics.pro_score(masks, at_masks), abs=1e-9)
    squashed = [_squashed(m, (16, 16)) for m in masks]
    assert metrics.pixel_auroc(squashed, maps) != pytest.approx(by_hand, abs=1e-3)
    assert metrics.pro_score(squashed, maps) != pytest.approx(metrics.pro_score(masks, maps), abs=1e-3)


def test_padding_of_a_mixed_size_artifact_is_cropped_before_resizing():
    mask = np.zeros((12, 12), bool)
    mask[:6] = True
    amap = np.full((8, 10), np.nan, np.float32)  # a 6x6 map padded with NaN to the split's largest
    amap[:6, :6] = np.repeat(np.linspace(1.0, 0.0, 6)[:, None], 6, axis=1)
    assert metrics.pixel_auroc([mask], [amap]) == pytest.approx(1.0)
    assert metrics.pixel_auroc(np.stack([mask]), np.stack([amap[:6, :6]])) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="2 masks but 1 maps"):
        metrics.pixel_auroc([mask, mask], [amap])


def test_a_run_at_a_square_size_scores_pixels_at_each_masks_own_size(tmp_path):
    root = make_sized_folder(tmp_path / "mixed", [(96, 160), (120, 72)], n_train=4, n_test=2)
    config = RunConfig(str(root), "autoencoder", "smoke", image_size=32)
    outcome = compute(config, load_run_inputs(config))
    maps = outcome.arrays.anomaly_maps  # (4, 32, 32): the method worked on squares
    assert maps.shape == (4, 32, 32) and outcome.arrays.masks.shape == (4, 32, 32)
    own = []
    for name in outcome.arrays.names:  # the masks as drawn: each at its image's own size
        image = Image.open(root / name)
        parts = name.split("/")
        mask_file = root / "ground_truth" / parts[1] / f"{parts[2][:-4]}_mask.png"
        own.append(
            np.asarray(Image.open(mask_file)) > 127
            if mask_file.is_file()
            else np.zeros(image.size[::-1], bool)
        )
    assert {m.shape for m in own} == {(96, 160), (120, 72)}
    by_hand = roc_auc_score(
        np.concatenate([m.ravel() for m in own]),
        np.concatenate([_bilinear(a, m.shape).ravel() for m, a in zip(own, maps, strict=True)]),
    )
    assert outcome.metrics["pixel_auroc"] == pytest.approx(by_hand, abs=1e-6)
    assert outcome.metrics["pro"] == pytest.approx(metrics.pro_score(own, list(maps)), abs=1e-9)
    squashed = metrics.pixel_auroc(outcome.arrays.masks, maps)  # the masks squashed to 32 px
    assert squashed != pytest.approx(by_hand, abs=1e-4)
