"""Scanning MVTec AD and flat folders, loading splits, and load_dataset on folder paths."""

from __future__ import annotations

import pytest
import torch

from engine.data import load_dataset
from engine.data.mvtec import dataset_channels, load_split, scan_flat, scan_mvtec
from engine.data.types import DatasetError


def test_scan_mvtec_items(mvtec_folder):
    root = mvtec_folder(n_train=3, n_good=2, defects={"crack": 2, "hole": 1})
    (root / "train" / "good" / "notes.txt").write_text("not an image")
    (root / "train" / "good" / ".hidden.png").write_bytes(b"")
    items = scan_mvtec(root)
    names = [item.name for item in items]
    assert names == [
        "train/good/000.png",
        "train/good/001.png",
        "train/good/002.png",
        "test/good/000.png",
        "test/good/001.png",
        "test/crack/000.png",
        "test/crack/001.png",
        "test/hole/000.png",
    ]
    by_name = {item.name: item for item in items}
    assert by_name["test/good/000.png"].label == 0 and by_name["test/good/000.png"].mask_path is None
    crack = by_name["test/crack/001.png"]
    assert (crack.split, crack.label, crack.defect_type) == ("test", 1, "crack")
    assert crack.mask_path == root / "ground_truth" / "crack" / "001_mask.png"


def test_missing_train_good_is_an_error(tmp_path, image_file):
    image_file(tmp_path / "cat" / "test" / "good" / "0.png")
    with pytest.raises(DatasetError, match="train/good"):
        scan_mvtec(tmp_path / "cat")


def test_no_images_is_an_error(tmp_path):
    (tmp_path / "cat" / "train" / "good").mkdir(parents=True)
    with pytest.raises(DatasetError, match="no images"):
        scan_mvtec(tmp_path / "cat")
    with pytest.raises(DatasetError, match="no images"):
        scan_flat(tmp_path / "cat")


def test_mask_size_mismatch_names_both_files(mvtec_folder, image_file):
    root = mvtec_folder()
    image_file(root / "ground_truth" / "crack" / "001_mask.png", (20, 16), "L")
    with pytest.raises(DatasetError, match=r"001_mask\.png.*20x16.*crack/001\.png.*16x16"):
        scan_mvtec(root)


def test_defect_without_mask_gets_zero_mask(mvtec_folder):
    root = mvtec_folder(defects={"crack": 2})
    (root / "ground_truth" / "crack" / "000_mask.png").unlink()
    items = scan_mvtec(root)
    assert [item.mask_path is None for item in items if item.defect_type == "crack"] == [True, False]
    split = load_split([item for item in items if item.split == "test"], image_size=8, channels=3)
    assert split.masks is not None and split.masks.shape == (4, 8, 8)
    assert split.masks[:3].sum() == 0 and split.masks[3].sum() == 32  # left half of the last crack


def test_scan_flat_puts_everything_in_train(tmp_path, image_file):
    for i in range(3):
        image_file(tmp_path / "flat" / f"img{i}.jpg", seed=i)
    items = scan_flat(tmp_path / "flat")
    assert [item.name for item in items] == [f"train/good/img{i}.jpg" for i in range(3)]
    assert all(item.split == "train" and item.label == 0 for item in items)


def test_load_split_shapes_values_and_channels(mvtec_folder):
    items = scan_mvtec(mvtec_folder(mode="L"))
    assert dataset_channels(items) == 1
    split = load_split(items, image_size=32, channels=1)
    assert split.images.shape == (len(items), 1, 32, 32) and split.images.dtype == torch.float32
    assert split.images.min() >= 0.0 and split.images.max() <= 1.0
    assert split.labels.tolist() == [0, 0, 0, 0, 0, 0, 1, 1]
    assert set(split.masks.unique().tolist()) == {0.0, 1.0}
    assert split.names == [item.name for item in items]
    assert load_split(items, image_size=16, channels=3).images.shape == (len(items), 3, 16, 16)


def test_one_colour_train_image_makes_the_dataset_rgb(mvtec_folder, image_file):
    root = mvtec_folder(mode="L")
    image_file(root / "train" / "good" / "zz_colour.png", mode="RGB", seed=99)
    assert dataset_channels(scan_mvtec(root)) == 3


def test_load_split_reports_corrupt_file(mvtec_folder):
    root = mvtec_folder()
    (root / "test" / "good" / "000.png").write_bytes(b"garbage")
    with pytest.raises(DatasetError, match="000.png"):
        load_dataset(str(root), image_size=16)


def test_load_dataset_on_folder(mvtec_folder):
    data = load_dataset(str(mvtec_folder(name="widget")), image_size=16)
    assert data.name == "widget" and data.channels == 3 and data.image_size == 16
    assert len(data.train) == 4 and len(data.test) == 4 and data.has_masks
    assert data.train.masks is not None and data.train.masks.sum() == 0


def test_load_dataset_refuses_flat_folder(tmp_path, image_file):
    image_file(tmp_path / "flat" / "a.png")
    with pytest.raises(DatasetError, match="MVTec AD layout"):
        load_dataset(str(tmp_path / "flat"))


def test_load_real_piped_dataset(shared_datasets):
    data = load_dataset(str(shared_datasets / "piped" / "pa_bdp01_tl"), image_size=64)
    assert data.name == "pa_bdp01_tl" and data.channels == 3
    assert data.train.images.shape == (32, 3, 64, 64) and data.test.images.shape == (64, 3, 64, 64)
    assert int(data.test.labels.sum()) == 48 and set(data.test.defect_types) == {"good", "impurity"}
    assert data.has_masks and set(data.test.masks.unique().tolist()) == {0.0, 1.0}
    normal = data.test.labels == 0
    assert data.test.masks[normal].sum() == 0 and data.test.masks[~normal].sum() > 0
    assert not torch.isnan(data.train.images).any()
