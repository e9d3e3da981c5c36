"""The tiler every method uses on tiles: tiles cover the image, overlaps blend without seams, a stitched map puts
its maximum where the defect is, and fitting batches carry every tile once with its place in the grid."""

from __future__ import annotations

import pytest
import torch

from engine.methods import get_method
from engine.methods.components.tiling import TileBatches, Tiler, Tiling, cut_images, pad_to
from engine.methods.params import make_params, make_tiling
from engine.methods.prediction import Prediction


@pytest.mark.parametrize(("height", "width"), [(200, 300), (224, 224), (100, 640), (31, 500)])
def test_tiles_cover_the_image_and_stay_inside(height, width):
    tiler = Tiler(64, 40)
    covered = torch.zeros(max(height, 64), max(width, 64))
    for top, left in tiler.boxes(height, width):
        covered[top : top + 64, left : left + 64] += 1
    assert covered[:height, :width].min() >= 1  # every pixel in some tile
    starts_h, starts_w = tiler.starts(height), tiler.starts(width)
    assert starts_h[0] == 0 and starts_w[0] == 0
    for length, starts in ((height, starts_h), (width, starts_w)):
        assert starts[-1] + 64 == max(length, 64)  # the last tile ends at the edge (or the padded edge)
        assert all(0 < b - a <= 40 for a, b in zip(starts, starts[1:], strict=False))
    tiles = tiler.cut(torch.rand(3, height, width))
    assert tiles.shape == (tiler.count(height, width), 3, 64, 64)


def test_cut_tiles_hold_the_image_pixels():
    image = torch.rand(1, 150, 170)
    tiler = Tiler(64, 48)
    tiles = tiler.cut(image)
    for tile, (top, left) in zip(tiles, tiler.boxes(150, 170), strict=True):
        assert torch.equal(tile, image[:, top : top + 64, left : left + 64])


def test_overlaps_blend_without_seams_on_a_constant_map():
    tiler = Tiler(64, 24)
    maps = torch.full((tiler.count(150, 230), 64, 64), 3.25)
    stitched = tiler.stitch(maps, 150, 230)
    assert stitched.shape == (150, 230)
    torch.testing.assert_close(stitched, torch.full((150, 230), 3.25), rtol=0, atol=1e-5)
    # a map that is a smooth ramp in image coordinates comes back as that ramp: no step where tiles meet
    ramp = torch.linspace(0, 1, 230).expand(150, 230)
    tile_maps = torch.stack([ramp[t : t + 64, left : left + 64] for t, left in tiler.boxes(150, 230)])
    torch.testing.assert_close(tiler.stitch(tile_maps, 150, 230), ramp, rtol=0, atol=1e-5)


def test_a_stitched_map_peaks_where_the_defect_is():
    """Each tile's map is its own pixels (a stand-in for a method); the defect shows in several overlapping
    tiles and the stitched maximum lands on it, at the image's own resolution."""
    image = torch.zeros(1, 200, 300)
    image[0, 120:126, 250:256] = 1.0  # a 6 px defect near a tile boundary
    tiler = Tiler(96, 48)
    tiles = tiler.cut(image)
    stitched = tiler.stitch(tiles[:, 0], 200, 300)
    assert stitched.shape == (200, 300)
    row, col = divmod(int(stitched.argmax()), 300)
    assert 120 <= row < 126 and 250 <= col < 256
    assert float(stitched[0:100, 0:200].max()) == 0.0  # nothing bleeds far from it


def test_small_images_are_padded_by_reflection_and_cropped_back():
    image = torch.arange(2 * 5, dtype=torch.float32).view(1, 2, 5)
    padded = pad_to(image, 12)
    assert padded.shape == (1, 12, 12) and torch.equal(padded[:, :2, :5], image)
    tiler = Tiler(32, 16)
    assert tiler.boxes(20, 10) == [(0, 0)]
    stitched = tiler.stitch(torch.ones(1, 32, 32), 20, 10)
    assert stitched.shape == (20, 10)


def test_fitting_batches_carry_every_tile_once_with_its_slot():
    images = [torch.full((1, 100, 150), float(i)) for i in range(5)]  # image i is constant i
    tiler = Tiler(64, 48)
    per_image = tiler.count(100, 150)
    loader = [torch.stack(images[:3]), images[3:]]  # a stacked batch, then a list (as mixed sizes come)
    batches = TileBatches(loader, tiler, batch_size=7, shuffle=True, seed=1)
    seen = [
        (tile[0, 0, 0].item(), int(slot))
        for tiles, slots in batches.with_slots()
        for tile, slot in zip(tiles, slots, strict=True)
    ]
    assert sorted(seen) == sorted((float(i), s) for i in range(5) for s in range(per_image))
    assert batches.sizes == {(100, 150)}
    again = [
        (t[0, 0, 0].item(), int(s))
        for tiles, slots in batches.with_slots()
        for t, s in zip(tiles, slots, strict=True)
    ]
    assert sorted(again) == sorted(seen) and again != seen  # a new pass, drawn in a new order
    assert all(b.shape[0] == 7 for b in list(batches)[:-1])
    tiles, slots, sizes = cut_images(tiler, [torch.zeros(1, 64, 64), torch.zeros(1, 100, 150)])
    assert tiles.shape[0] == 1 + per_image and sizes == [(64, 64), (100, 150)] and slots[0] == 0


def test_tiling_options_are_checked_and_native_needs_tiles():
    assert Tiling(224).stride == 112 and Tiling(224, 200).stride == 200
    with pytest.raises(ValueError, match="tile_stride=300 is larger than tile=224"):
        Tiling(224, 300)
    with pytest.raises(
        ValueError, match=r"tile=5000 is out of range; expected a whole number from 0 to 4096"
    ):
        Tiling(5000)
    padim = get_method("padim")
    assert make_tiling(padim, "native") == Tiling(224)
    assert make_tiling(padim, "cpu") == Tiling() and make_tiling(padim, "cpu", {"tile": "96"}) == Tiling(96)
    with pytest.raises(ValueError, match="padim: tile=0 at the native preset"):
        make_tiling(padim, "native", {"tile": "0"})
    with pytest.raises(ValueError, match="padim: tile_stride=400"):
        make_params(padim, "native", {"tile_stride": "400"})  # checked with the parameters, before a run
    assert make_tiling(get_method("vae"), "native").tile == 128  # no native preset of its own: cpu on tiles


@pytest.mark.slow  # a backbone over every tile of full-size images
def test_a_tiled_method_predicts_whole_images_of_any_size(make_images):
    """The base class cuts, predicts tile batches and stitches: a method sees only (C, tile, tile) inputs."""
    cls = get_method("patchcore")
    method = cls(make_params(cls, "smoke", {"tile": "32"}), (1, 32, 32), seed=0)
    method.use_tiles(make_tiling(cls, "smoke", {"tile": "32"}))
    seen = []
    predict = method.predict

    def spy(tiles):
        seen.append(tuple(tiles.shape[-2:]))
        return predict(tiles)

    method.predict = spy
    method.fit_images([make_images(4, 1, 64)])
    pred = method.predict_images([make_images(1, 1, 48)[0], make_images(1, 1, 80)[0]])
    assert isinstance(pred, Prediction) and set(seen) == {(32, 32)}
    assert [tuple(m.shape) for m in pred.anomaly_map] == [(48, 48), (80, 80)]
    assert pred.score.shape == (2,) and pred.embedding.shape[0] == 2
    for score, anomaly_map in zip(pred.score, pred.anomaly_map, strict=True):
        assert float(score) == pytest.approx(float(anomaly_map.max()))  # smooth maps: score = max of the map
