import threading
import zipfile

import numpy as np
import pytest
from PIL import Image

from db import datasets as db_datasets
from db import labels
from db.store import Store
from engine.data import masks
from engine.data.export import export_mvtec, target_folder
from engine.data.importer import import_dataset
from engine.data.types import DatasetError
from tests.synthetic_mvtec import make_mvtec_folder


@pytest.fixture
def dataset(workbench_env, tmp_path):
    folder = make_mvtec_folder(tmp_path / "src", n_train=3, n_good=2, defects={"square": 2}, size=16)
    import_dataset(folder, "toy")
    return db_datasets.get_dataset(Store.at(), "toy")


def test_target_folder():
    assert target_folder("train", None, None) == ("train", "good")
    assert target_folder("train", 1, "dent") == ("test", "dent")
    assert target_folder("test", 0, "good") == ("test", "good")
    assert target_folder("test", 1, None) == ("test", "anomaly")
    assert target_folder("test", None, None) is None


def test_export_layout_masks_and_round_trip(dataset, tmp_path):
    root = db_datasets.get_dataset(Store.at(), "toy").root
    states = {s.relpath: s for s in labels.images_to_label(Store.at(), dataset.id, split=None)}
    # relabel a normal test image as a new defect with a drawn mask; unlabel another test image
    good = states["test/good/000.png"]
    drawn = np.zeros((16, 16), dtype=bool)
    drawn[2:6, 3:9] = True
    mask_rel = masks.save_mask(root, good.relpath, "blob", good.image_id, drawn)
    labels.save_label(
        Store.at(),
        good.image_id,
        shown_version=good.version,
        author="ann",
        label=1,
        defect_type="blob",
        mask_relpath=mask_rel,
    )
    other = states["test/good/001.png"]
    labels.save_label(Store.at(), other.image_id, shown_version=other.version, author="ann", label=None)

    report = export_mvtec("toy", tmp_path / "out" / "toy.zip")
    assert report.counts == {("test", "blob"): 1, ("test", "square"): 2, ("train", "good"): 3}
    assert report.masks == 3
    assert report.left_out == [("test/good/001.png", "unlabeled test image")]
    with zipfile.ZipFile(report.path) as archive:
        names = set(archive.namelist())
        assert {
            "toy/train/good/000.png",
            "toy/test/blob/000.png",
            "toy/ground_truth/blob/000_mask.png",
            "toy/test/square/001.png",
            "toy/ground_truth/square/001_mask.png",
            "toy/labels.csv",
        } <= names
        assert not any(n.startswith("toy/test/good/") for n in names)
        with archive.open("toy/ground_truth/blob/000_mask.png") as f:
            exported = np.asarray(Image.open(f)) > 0
        assert "ann" in archive.read("toy/labels.csv").decode()
    np.testing.assert_array_equal(exported, drawn)

    again = import_dataset(report.path, "toy-again")  # the export is a valid MVTec category
    assert again.kind == "mvtec"
    assert again.counts == {("test", "blob"): 1, ("test", "square"): 2, ("train", "good"): 3}


def test_export_name_collisions_get_unique_files(dataset, tmp_path):
    states = {s.relpath: s for s in labels.images_to_label(Store.at(), dataset.id, split=None)}
    for relpath in ("test/good/000.png", "test/square/000.png"):  # same file name, same new defect type
        s = states[relpath]
        labels.save_label(
            Store.at(), s.image_id, shown_version=s.version, author="a", label=1, defect_type="dup"
        )
    report = export_mvtec("toy", tmp_path / "toy.zip")
    with zipfile.ZipFile(report.path) as archive:
        assert {"toy/test/dup/000.png", "toy/test/dup/000_1.png"} <= set(archive.namelist())


def test_export_unknown_dataset(workbench_env, tmp_path):
    with pytest.raises(DatasetError, match="no stored dataset named 'nope'"):
        export_mvtec("nope", tmp_path / "x.zip")


def test_exports_at_once_all_finish_with_one_whole_zip(workbench_env, tmp_path):
    folder = make_mvtec_folder(tmp_path / "src", n_train=30, n_good=10, defects={"square": 10}, size=96)
    import_dataset(folder, "busy")
    target = tmp_path / "exports" / "busy.zip"
    start = threading.Barrier(4)
    outcomes: list[object] = []

    def build() -> None:
        start.wait()
        try:
            outcomes.append(export_mvtec("busy", target).total)
        except Exception as exc:  # the race shows as an exception in one of the threads
            outcomes.append(exc)

    threads = [threading.Thread(target=build) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert outcomes == [50] * 4, outcomes
    with zipfile.ZipFile(target) as archive:
        assert archive.testzip() is None
        assert len([n for n in archive.namelist() if n.endswith(".png")]) == 50 + 10  # images and masks
    assert [p.name for p in target.parent.iterdir()] == ["busy.zip"]  # no half-written files left


def test_a_missing_image_is_left_out_by_name_without_server_paths(dataset, tmp_path):
    (tmp_path / "data" / "toy" / "test" / "good" / "000.png").unlink()
    report = export_mvtec("toy", tmp_path / "toy.zip")
    assert ("test/good/000.png", "image file missing") in report.left_out
