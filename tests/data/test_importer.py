"""import_dataset: folders and zips into the data dir and the store; bad input refused, nothing half-imported."""

from __future__ import annotations

import stat
import zipfile
from pathlib import Path

import pytest

from db import datasets as db_datasets
from db.store import Store
from engine.data import importer as importer_module
from engine.data import known_datasets, load_dataset
from engine.data.importer import import_dataset
from engine.data.types import DatasetError


def zip_folder(folder: Path, archive: Path, top: str | None = None) -> Path:
    with zipfile.ZipFile(archive, "w") as zf:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                relative = path.relative_to(folder).as_posix()
                zf.write(path, f"{top}/{relative}" if top else relative)
    return archive


def nothing_left(data_dir: Path, store: Store) -> bool:
    leftovers = list(data_dir.iterdir()) if data_dir.exists() else []
    return not leftovers and db_datasets.list_datasets(store) == []


def test_import_mvtec_folder_records_every_image(mvtec_folder, tmp_path, store):
    source = mvtec_folder(n_train=3, n_good=2, defects={"crack": 2})
    calls = []
    report = import_dataset(
        source, "widgets", tmp_path / "data", store, progress=lambda d, t: calls.append((d, t))
    )
    assert report.kind == "mvtec" and report.channels == 3 and report.root == tmp_path / "data" / "widgets"
    assert report.counts == {("test", "crack"): 2, ("test", "good"): 2, ("train", "good"): 3}
    assert report.skipped == [] and report.duplicates == [] and calls[-1] == (7, 7)
    assert (report.root / "ground_truth" / "crack" / "001_mask.png").is_file()
    record = db_datasets.get_dataset(store, "widgets")
    rows = db_datasets.list_images(store, record.id)
    assert len(rows) == 7 and record.kind == "mvtec" and record.root == str(report.root)
    crack = next(r for r in rows if r.relpath == "test/crack/000.png")
    assert (crack.label, crack.mask_relpath, crack.width) == (1, "ground_truth/crack/000_mask.png", 16)
    assert len(crack.sha256) == 64
    data = load_dataset("widgets", image_size=16, store=store)
    assert len(data.train) == 3 and len(data.test) == 4 and data.has_masks
    assert int(data.test.masks.sum()) > 0
    assert "widgets" in known_datasets(store)


def test_corrupt_files_skipped_and_duplicates_reported(mvtec_folder, tmp_path, store):
    source = mvtec_folder(n_train=3)
    (source / "train" / "good" / "001.png").write_bytes(b"corrupt")
    (source / "test" / "good" / "copy.png").write_bytes((source / "train" / "good" / "000.png").read_bytes())
    report = import_dataset(source, "mixed", tmp_path / "data", store)
    assert [name for name, _ in report.skipped] == ["train/good/001.png"]
    assert "cannot decode" in report.skipped[0][1]
    assert report.duplicates == [("test/good/copy.png", "train/good/000.png")]
    assert report.counts[("train", "good")] == 2 and report.counts[("test", "good")] == 2
    assert not (report.root / "test" / "good" / "copy.png").exists()


def test_flat_zip_with_top_folder(tmp_path, image_file, store):
    for i in range(3):
        image_file(tmp_path / "flat" / f"n{i}.png", mode="L", seed=i)
    archive = zip_folder(tmp_path / "flat", tmp_path / "normals.zip", top="my_images")
    report = import_dataset(archive, "normals", tmp_path / "data", store)
    assert report.kind == "flat" and report.channels == 1
    assert report.counts == {("train", "good"): 3}
    assert sorted(p.name for p in (report.root / "train" / "good").iterdir()) == [
        "n0.png",
        "n1.png",
        "n2.png",
    ]
    with pytest.raises(DatasetError, match="no labeled test images"):
        load_dataset("normals", store=store)


def test_mvtec_zip_imports(mvtec_folder, tmp_path, store):
    archive = zip_folder(mvtec_folder(), tmp_path / "cat.zip", top="cat")
    report = import_dataset(archive, "zipped", tmp_path / "data", store)
    assert report.kind == "mvtec" and report.total == 8


@pytest.mark.parametrize("member", ["../evil.png", "a/../../evil.png", "/abs/evil.png", "C:/evil.png"])
def test_unsafe_zip_members_are_refused(member, tmp_path, image_file, store):
    data = image_file(tmp_path / "x.png").read_bytes()
    with zipfile.ZipFile(tmp_path / "bad.zip", "w") as zf:
        zf.writestr("ok.png", data)
        zf.writestr(zipfile.ZipInfo(member), data)
    with pytest.raises(DatasetError, match="unsafe member"):
        import_dataset(tmp_path / "bad.zip", "bad", tmp_path / "data", store)
    assert nothing_left(tmp_path / "data", store)
    assert not (tmp_path / "evil.png").exists()


def test_symlink_zip_member_is_refused(tmp_path, store):
    link = zipfile.ZipInfo("link.png")
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    with zipfile.ZipFile(tmp_path / "link.zip", "w") as zf:
        zf.writestr(link, "/etc/passwd")
    with pytest.raises(DatasetError, match="symbolic link"):
        import_dataset(tmp_path / "link.zip", "linked", tmp_path / "data", store)


def test_zip_size_limits_checked_from_directory(tmp_path, image_file, store, monkeypatch):
    for i in range(2):
        image_file(tmp_path / "flat" / f"{i}.png", (64, 64), seed=i)
    archive = zip_folder(tmp_path / "flat", tmp_path / "f.zip")
    monkeypatch.setattr(importer_module, "MAX_FILE_BYTES", 1000)
    with pytest.raises(DatasetError, match="per-image limit"):
        import_dataset(archive, "big", tmp_path / "data", store)
    monkeypatch.setattr(importer_module, "MAX_FILE_BYTES", 10**9)
    monkeypatch.setattr(importer_module, "MAX_ZIP_TOTAL_BYTES", 15_000)
    with pytest.raises(DatasetError, match="uncompressed"):
        import_dataset(archive, "big", tmp_path / "data", store)
    assert nothing_left(tmp_path / "data", store)


@pytest.mark.parametrize(
    "name",
    ["", "a/b", "..", "has space", "x" * 65, "mnist", "mnist-noisy:3", "MNIST"]
    + [".workers", ".exports", ".hidden", ".import-x"],  # the data directory's own folders
)
def test_bad_names_are_refused(name, mvtec_folder, tmp_path, store):
    with pytest.raises(DatasetError, match="name"):
        import_dataset(mvtec_folder(), name, tmp_path / "data", store)
    assert nothing_left(tmp_path / "data", store)


def test_taken_name_is_refused(mvtec_folder, tmp_path, store):
    import_dataset(mvtec_folder(), "once", tmp_path / "data", store)
    with pytest.raises(DatasetError, match="already exists"):
        import_dataset(mvtec_folder(name="other"), "once", tmp_path / "data2", store)


def test_wrong_layout_and_empty_sources_are_refused(tmp_path, store):
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    with pytest.raises(DatasetError, match="no images"):
        import_dataset(tmp_path / "empty", "empty", tmp_path / "data", store)
    (tmp_path / "notes.txt").write_text("hi")
    with pytest.raises(DatasetError, match="not a .zip"):
        import_dataset(tmp_path / "notes.txt", "notes", tmp_path / "data", store)
    assert nothing_left(tmp_path / "data", store)


def test_store_failure_leaves_nothing_behind(mvtec_folder, tmp_path, store, monkeypatch):
    def broken_store(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(db_datasets, "add_dataset", broken_store)
    with pytest.raises(RuntimeError, match="disk full"):
        import_dataset(mvtec_folder(), "doomed", tmp_path / "data", store)
    assert nothing_left(tmp_path / "data", store)


def test_unknown_dataset_lists_choices(mvtec_folder, tmp_path, store):
    import_dataset(mvtec_folder(), "known_one", tmp_path / "data", store)
    with pytest.raises(DatasetError, match=r"unknown dataset 'nope'.*'mnist'.*'mnist-noisy'.*'known_one'"):
        load_dataset("nope", store=store)


def test_labels_edited_in_the_store_are_used(mvtec_folder, tmp_path, store):
    from sqlalchemy import select

    from db.models import Image

    import_dataset(mvtec_folder(n_train=3), "edited", tmp_path / "data", store)
    with store.session() as s:
        s.scalar(select(Image).where(Image.relpath == "test/good/000.png")).label = None
        s.scalar(select(Image).where(Image.relpath == "train/good/002.png")).label = 1
    data = load_dataset("edited", image_size=8, store=store)
    assert data.train.names == ["train/good/000.png", "train/good/001.png"]
    assert "test/good/000.png" not in data.test.names
    moved = data.test.names.index("train/good/002.png")
    assert int(data.test.labels[moved]) == 1 and data.test.defect_types[moved] == "anomaly"
    assert len(data.test) == 4


def test_skipped_files_are_named_without_server_paths_or_object_reprs(mvtec_folder, tmp_path, store):
    source = mvtec_folder(n_train=3)
    (source / "train" / "good" / "001.png").write_bytes(b"corrupt")
    (source / "train" / "good" / "002.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)  # a cut-off PNG
    report = import_dataset(zip_folder(source, tmp_path / "up.zip"), "mixed", tmp_path / "data", store)
    reasons = dict(report.skipped)
    assert set(reasons) == {"train/good/001.png", "train/good/002.png"}
    for name, reason in reasons.items():
        assert reason.startswith(f"cannot decode image {name}: "), reason
        assert str(tmp_path) not in reason, reason
        assert "object at 0x" not in reason and "BytesIO" not in reason, reason
