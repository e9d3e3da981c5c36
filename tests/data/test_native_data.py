"""Native resolution in the data path: a split keeps every image's own size and reads its files when a batch asks
for them; a dataset of two image sizes trains and predicts on tiles, its maps at each image's own size."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from engine.compute import compute
from engine.data import load_dataset
from engine.data.loaders import make_loader
from engine.data.types import NATIVE
from engine.run_inputs import load_run_inputs
from engine.runconfig import RunConfig
from tests.synthetic_mvtec import make_sized_folder

SIZES = ((120, 160), (96, 96))  # (H, W): a landscape and a square image size in one dataset


def test_native_split_keeps_each_image_size_and_reads_files_when_asked(tmp_path):
    root = make_sized_folder(tmp_path / "two", list(SIZES))
    data = load_dataset(str(root), image_size=NATIVE)
    assert data.native and data.channels == 1
    assert data.train.sizes == [SIZES[i % 2] for i in range(4)]
    assert [tuple(data.test.image(i).shape) for i in range(4)] == [(1, *s) for s in data.test.sizes]
    assert tuple(data.test.mask(3).shape) == SIZES[1] and float(data.test.mask(3).sum()) == 144
    with pytest.raises(ValueError, match="differ in size"):
        data.train.images  # noqa: B018 - the whole split cannot be one tensor
    # pixels are read from the file when a batch asks, not at load: a file changed after loading is seen
    Image.fromarray(np.full(SIZES[0], 255, dtype=np.uint8)).save(root / "train" / "good" / "000.png")
    first = next(iter(make_loader(data.train, batch_size=2)))
    assert isinstance(first, list) and [tuple(t.shape) for t in first] == [(1, 120, 160), (1, 96, 96)]
    assert float(first[0].min()) == 1.0
    same_size = make_loader(data.train.subset([0, 2]), batch_size=2)
    assert next(iter(same_size)).shape == (2, 1, 120, 160)  # one size: a plain tensor, as before
    # at a given size every image is squashed to that square, exactly as the whole-split tensor
    squared = load_dataset(str(root), image_size=64)
    assert squared.train.sizes == [(64, 64)] * 4 and squared.train.images.shape == (4, 1, 64, 64)
    assert torch.equal(torch.cat(list(make_loader(squared.train, batch_size=3))), squared.train.images)


@pytest.mark.slow  # a backbone over every tile of full-size images
def test_a_dataset_of_two_image_sizes_trains_and_predicts_on_tiles(tmp_path):
    root = make_sized_folder(tmp_path / "two", list(SIZES))
    overrides = (
        ("tile", "64"),
        ("tile_stride", "64"),
        ("weights", "random"),
        ("d", "16"),
        ("batch_size", "8"),
    )
    config = RunConfig(str(root), "padim", "native", overrides=overrides)
    outcome = compute(config, load_run_inputs(config))
    arrays = outcome.arrays
    assert outcome.start.image_size == NATIVE and outcome.start.params["tile"] == 64
    assert arrays.anomaly_maps.shape == (4, 120, 160)  # padded to the largest size in the artifact
    for i, name in enumerate(arrays.names):
        height, width = SIZES[int(Path(name).stem) % 2]
        own = arrays.anomaly_maps[i]
        assert np.isfinite(own[:height, :width]).all() and np.isnan(own[height:, :]).all()
        assert np.isnan(own[:, width:]).all()
        assert arrays.masks[i][height:, :].sum() == 0
    assert outcome.metrics["pixel_auroc"] is not None and outcome.metrics["pro"] is not None
    assert 0.0 <= outcome.metrics["image_auroc"] <= 1.0
    assert outcome.weights["spec"]["tiling"]["tile"] == 64 and outcome.weights["spec"]["image_size"] == NATIVE
    per_tile = (*overrides, ("tile_gaussian", "per_tile"))
    with pytest.raises(ValueError, match="per_tile needs images of one size"):
        config = RunConfig(str(root), "padim", "native", overrides=per_tile)
        compute(config, load_run_inputs(config))
