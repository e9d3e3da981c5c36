"""Dataset folders are stored relative to WORKBENCH_DATA_DIR, so a moved data directory keeps working."""

from __future__ import annotations

import shutil
from pathlib import Path

from sqlalchemy import create_engine, text

from db import datasets as db_datasets
from db.store import Store
from engine.data import load_dataset
from engine.data.importer import import_dataset


def test_a_data_dir_moved_with_its_store_still_finds_every_image(workbench_env, toy_folder, monkeypatch):
    report = import_dataset(toy_folder, "toy")
    data_dir = Path(workbench_env["WORKBENCH_DATA_DIR"])
    with create_engine(workbench_env["WORKBENCH_DB_URL"]).connect() as conn:
        stored = conn.scalar(text("SELECT root FROM datasets WHERE name = 'toy'"))
    assert not Path(stored).is_absolute() and (data_dir / stored) == Path(report.root)

    moved = data_dir.parent / "moved-data"
    shutil.move(data_dir, moved)
    monkeypatch.setenv("WORKBENCH_DATA_DIR", str(moved))
    Store.dispose_all()
    assert db_datasets.get_dataset(Store.at(), "toy").root == str(moved / stored)
    assert len(load_dataset("toy", image_size=32).test) == 6
