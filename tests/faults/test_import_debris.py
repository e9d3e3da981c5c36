"""Imports and exports killed with kill -9 leave nothing behind that a later import, export or `migrate` keeps:
staging folders and half-written zips are removed, a dataset copied but not recorded is recorded, and work that a
live process still owns is left alone."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from db import datasets as db_datasets
from engine.data.export import export_mvtec
from engine.data.importer import import_dataset
from engine.data.leftovers import MANIFEST_FILE, tidy_data_dir
from tests.faults.conftest import PROJECT_ROOT, wait_for
from tests.synthetic_mvtec import make_mvtec_folder

BIG = 3000  # images in the big zip: an import of it takes seconds, long enough to be killed midway

# A real import or export whose process kills (or stops) itself at a chosen point, with kill -9 (or SIGSTOP).
STOP_IN = """
import os, signal, sys
from pathlib import Path
from db import datasets as db_datasets
from engine.data import export
how = getattr(signal, sys.argv[2])
if sys.argv[1] == "import":
    db_datasets.add_dataset = lambda *a, **k: os.kill(os.getpid(), how)  # copied and moved into place, not recorded
    from engine.data.importer import import_dataset
    import_dataset(Path(sys.argv[3]), sys.argv[4])
else:
    labeled = export.target_folder
    calls = []
    def target_folder(*args):
        calls.append(1)
        if len(calls) == 3:  # some images written into the zip
            os.kill(os.getpid(), how)
        return labeled(*args)
    export.target_folder = target_folder
    export.export_mvtec(sys.argv[3], Path(sys.argv[4]))
"""


@pytest.fixture(scope="module")
def big_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A zip of BIG different 8x8 grayscale PNGs (a flat folder of normal images)."""
    rng = np.random.default_rng(0)
    path = tmp_path_factory.mktemp("big") / "big.zip"
    with zipfile.ZipFile(path, "w") as archive:
        for i in range(BIG):
            buffer = io.BytesIO()
            Image.fromarray(rng.integers(0, 256, (8, 8), dtype=np.uint8), "L").save(buffer, format="PNG")
            archive.writestr(f"img_{i:05d}.png", buffer.getvalue())
    return path


@pytest.fixture
def stopping(workbench_env: dict[str, str]) -> Callable[..., subprocess.Popen]:
    """Start STOP_IN with its arguments in the test's workbench; every process is killed at the end."""
    started: list[subprocess.Popen] = []

    def start(*args: str) -> subprocess.Popen:
        env = {**os.environ, **workbench_env}
        proc = subprocess.Popen([sys.executable, "-c", STOP_IN, *args], cwd=PROJECT_ROOT, env=env)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def data_dir(workbench_env: dict[str, str]) -> Path:
    return Path(workbench_env["WORKBENCH_DATA_DIR"])


def staging(data: Path) -> list[Path]:
    return sorted(data.glob(".import-*"))


def staged_files(data: Path) -> int:
    return sum(1 for folder in staging(data) for path in folder.rglob("*") if path.is_file())


def stopped(proc: subprocess.Popen) -> bool:
    return Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "T"


def test_killed_import_is_cleared_by_the_next_import_of_the_same_name(
    engine_cli, workbench_env, env_store, big_zip
):
    data = data_dir(workbench_env)
    killed = engine_cli("import", str(big_zip), "--name", "k5")
    wait_for(lambda: staged_files(data) >= 300 or killed.poll() is not None, what="the import to copy files")
    killed.kill()
    killed.wait()
    assert killed.returncode == -signal.SIGKILL, "the import ended before it was killed; make BIG larger"
    assert staging(data) and not (data / "k5").exists()

    again = engine_cli("import", str(big_zip), "--name", "k5")
    out, err = again.communicate(timeout=600)
    assert again.returncode == 0, err
    assert f"imported {BIG} images into 'k5'" in out
    assert staging(data) == []
    assert len(db_datasets.list_images(env_store, db_datasets.get_dataset(env_store, "k5").id)) == BIG


def test_migrate_records_a_dataset_whose_import_was_killed_after_copying(
    engine_cli, stopping, workbench_env, env_store, toy_folder
):
    data = data_dir(workbench_env)
    killed = stopping("import", "SIGKILL", str(toy_folder), "k5_5")  # killed after copying, before recording
    assert killed.wait(timeout=300) == -signal.SIGKILL
    assert (data / "k5_5").is_dir() and db_datasets.get_dataset(
        env_store, "k5_5"
    ) is None  # the invisible dataset
    left = staging(data)
    assert len(left) == 1

    migrate = engine_cli("migrate")
    out, err = migrate.communicate(timeout=300)
    assert migrate.returncode == 0, err
    assert f"removed 1 staging folder(s) of killed imports: {left[0].name}" in out
    assert "recorded dataset 'k5_5' (14 images)" in out
    assert staging(data) == [] and not (data / "k5_5" / MANIFEST_FILE).exists()
    assert (
        len(db_datasets.list_images(env_store, db_datasets.get_dataset(env_store, "k5_5").id)) == 14
    )  # toy_folder: 8 train, 6 test


def test_a_live_import_is_left_alone_by_another_import(
    engine_cli, stopping, workbench_env, env_store, big_zip, toy_folder
):
    data = data_dir(workbench_env)
    running = engine_cli("import", str(big_zip), "--name", "slow")
    wait_for(lambda: staged_files(data) >= 300 or running.poll() is not None, what="the import to copy files")
    assert running.poll() is None, "the import ended too soon to overlap; make BIG larger"
    import_dataset(toy_folder, "quick")  # tidies the data directory first
    assert staging(data), "the running import's staging folder was removed"
    out, err = running.communicate(timeout=600)
    assert running.returncode == 0, err
    assert {d.name for d in db_datasets.list_datasets(env_store)} == {"quick", "slow"}

    paused = stopping("import", "SIGSTOP", str(toy_folder), "paused")  # moved into place, recording
    wait_for(lambda: stopped(paused), what="the import to stop before recording")
    assert tidy_data_dir() == []
    assert (data / "paused" / MANIFEST_FILE).is_file() and len(staging(data)) == 1
    paused.kill()
    paused.wait()
    assert tidy_data_dir()[0].startswith("removed 1 staging folder(s) of killed imports")
    assert db_datasets.get_dataset(env_store, "paused") is not None and staging(data) == []


def test_an_older_versions_leftovers_are_named_and_replaced_or_removed_when_stale(
    engine_cli, workbench_env, toy_folder
):
    data = data_dir(workbench_env)
    make_mvtec_folder(data / "k5_5", n_train=3, n_good=1, defects={"dent": 1}, size=16)  # never recorded
    old = data / ".import-k5_1-ab12cd34"  # no owner mark; two hours untouched
    make_mvtec_folder(old / "out", n_train=2, n_good=1, defects={}, size=16)
    two_hours_ago = time.time() - 7200
    for path in [old, *old.rglob("*")]:
        os.utime(path, (two_hours_ago, two_hours_ago))
    fresh = data / ".import-k5_2-ef56gh78"  # no owner mark, just made: perhaps an import about to lock it
    fresh.mkdir()

    migrate = engine_cli("migrate")
    out, err = migrate.communicate(timeout=300)
    assert migrate.returncode == 0, err
    assert "folder 'k5_5' in the data directory holds a dataset the store does not know" in out
    assert staging(data) == [fresh]

    report = import_dataset(toy_folder, "k5_5")
    assert report.total == 14
    assert len(list((data / "k5_5" / "train" / "good").iterdir())) == 8


def test_killed_export_leaves_no_tmp_and_a_live_one_is_kept(stopping, workbench_env, toy_folder):
    import_dataset(toy_folder, "toy")
    exports = data_dir(workbench_env) / ".exports"
    killed = stopping("export", "SIGKILL", "toy", str(exports / "toy.zip"))
    assert killed.wait(timeout=300) == -signal.SIGKILL
    assert [p.name.endswith(".tmp") for p in exports.iterdir()] == [True]

    paused = stopping("export", "SIGSTOP", "toy", str(exports / "toy.zip"))
    wait_for(lambda: stopped(paused), what="the export to stop while writing")
    report = export_mvtec("toy", exports / "toy.zip")
    assert report.total == 14
    left = sorted(p.name for p in exports.iterdir())
    assert len(left) == 2 and left[1] == "toy.zip", "the killed export's .tmp stays or the live one's went"
    paused.kill()
    paused.wait()
    assert "removed 1 half-written export zip(s)" in tidy_data_dir()[0]
    assert [p.name for p in exports.iterdir()] == ["toy.zip"]
