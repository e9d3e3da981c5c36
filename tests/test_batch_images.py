"""A batch to score is read as an import reads it: every file of a folder or zip gets an image or one reason."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest
from PIL import Image

from engine.batch_images import batched, list_sources, read_sources
from engine.data.types import DatasetError
from tests.synthetic_mvtec import png_bytes


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_a_zip_gives_one_item_per_file_in_its_order(tmp_path):
    good = png_bytes(np.full((16, 20, 3), 90, dtype=np.uint8))
    wide = io.BytesIO()
    Image.new("L", (10_000, 10)).save(wide, format="PNG")
    members = {
        "a/ok.png": good,
        "a/broken.png": good[: len(good) // 2],
        "readme.txt": b"hello",
        "wide.png": wide.getvalue(),
        "__MACOSX/a/._ok.png": b"junk",
        ".hidden.png": good,
    }
    (tmp_path / "batch.zip").write_bytes(_zip(members))
    items = list(read_sources(list_sources([tmp_path / "batch.zip"])))
    assert [item.name for item in items] == ["a/ok.png", "a/broken.png", "readme.txt", "wide.png"]
    ok, broken, text, too_wide = items
    assert (
        ok.error is None and ok.image.size == (20, 16) and ok.image.mode == "L"
    )  # grey RGB -> L, as imports
    assert broken.image is None and broken.error.startswith("cannot decode image a/broken.png")
    assert (
        text.error
        == "readme.txt: not an image file; expected one of .png, .jpg, .jpeg, .bmp, .tif, .tiff, .webp"
    )
    assert "10000x10 px" in too_wide.error and str(tmp_path) not in too_wide.error


def test_an_unsafe_zip_is_refused_whole(tmp_path):
    (tmp_path / "evil.zip").write_bytes(_zip({"../escape.png": b"x"}))
    with pytest.raises(DatasetError, match="unsafe member path"):
        list_sources([tmp_path / "evil.zip"])


def test_files_are_read_one_at_a_time_and_batched(tmp_path):
    for i in range(5):
        Image.new("RGB", (12, 12), (i * 40, 0, 0)).save(tmp_path / f"{i}.png")
    items = read_sources(list_sources(sorted(tmp_path.iterdir())))
    first = next(items)  # a generator: nothing beyond the first file is decoded yet
    (tmp_path / "4.png").write_bytes(b"gone bad")
    rest = list(items)
    assert first.error is None and [len(b) for b in batched([first, *rest], 2)] == [2, 2, 1]
    assert rest[-1].name == "4.png" and rest[-1].error.startswith("cannot decode image 4.png")


def test_a_missing_path_is_refused(tmp_path):
    with pytest.raises(DatasetError, match=r"nowhere does not exist; give image files, a folder or a \.zip"):
        list_sources([tmp_path / "nowhere"])
