import numpy as np
import pytest

from db import datasets as db_datasets
from db import labels
from engine.data.additions import add_test_images, safe_file_name
from engine.data.importer import import_dataset
from engine.data.types import DatasetError
from tests.synthetic_mvtec import make_mvtec_folder, normal_image, png_bytes


def test_safe_file_name():
    assert safe_file_name("../../etc/my photo.PNG") == "my_photo.PNG"
    assert safe_file_name("C:\\x\\.hidden.png") == "upload_hidden.png"
    with pytest.raises(DatasetError, match="not an image"):
        safe_file_name("run.sh")


def test_add_test_images_skips_bad_files_and_duplicates(workbench_env, env_store, tmp_path):
    import_dataset(make_mvtec_folder(tmp_path / "src", n_train=3, n_good=1, defects={}, size=16), "toy")
    existing = (tmp_path / "src" / "train" / "good" / "000.png").read_bytes()
    new = png_bytes(normal_image(np.random.default_rng(5), 16, 3))
    report = add_test_images("toy", [("a.png", new), ("b.png", b"junk"), ("c.png", existing), ("a.png", new)])
    assert report.counts == {("test", "unlabeled"): 1}
    assert [n for n, _ in report.skipped] == ["b.png"]
    assert report.duplicates == [("c.png", "train/good/000.png"), ("a.png", "test/unlabeled/a.png")]
    record = db_datasets.get_dataset(env_store, "toy")
    added = labels.images_to_label(env_store, record.id, only_unlabeled=True)
    assert [s.relpath for s in added] == ["test/unlabeled/a.png"]
    assert (tmp_path / "data" / "toy" / "test" / "unlabeled" / "a.png").read_bytes() == new
    with pytest.raises(DatasetError, match="no stored dataset"):
        add_test_images("nope", [])
