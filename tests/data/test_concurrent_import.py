"""Three processes import a dataset under one name at the same moment: one wins, the others are told the name
was taken, in words, and nothing of theirs is left in the data directory or the store."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from db import datasets as db_datasets
from engine.data.importer import import_dataset
from tests.data.conftest import build_mvtec

PROJECT = Path(__file__).resolve().parents[2]
PEOPLE = 3
# each process gets ready (imports, store open), then waits for `go` so that all pass the name checks together
IMPORTER = """
import json, sys, time
from pathlib import Path
from db.store import Store
from engine.data.importer import import_dataset
from engine.data.types import DatasetError
source, data_dir, db_url, ready, go = sys.argv[1:]
store = Store.at(db_url)
Path(ready).touch()
while not Path(go).exists():
    time.sleep(0.01)
try:
    report = import_dataset(Path(source), "line-3", Path(data_dir), store)
    print(json.dumps({"ok": report.total}))
except DatasetError as exc:
    print(json.dumps({"refused": str(exc)}))
"""


@pytest.mark.slow  # three importing processes
def test_one_of_three_imports_of_one_name_wins_and_the_others_are_refused_in_words(tmp_path, db_url, store):
    data_dir = tmp_path / "data"
    import_dataset(build_mvtec(tmp_path / "first"), "other", data_dir, store)  # the store exists already
    sources = [build_mvtec(tmp_path / f"src{i}", n_train=40, n_good=10, size=(64, 64)) for i in range(PEOPLE)]
    go = tmp_path / "go"
    env = {**os.environ, "PYTHONPATH": str(PROJECT)}
    processes = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                IMPORTER,
                str(s),
                str(data_dir),
                db_url,
                str(tmp_path / f"ready{i}"),
                str(go),
            ],
            cwd=PROJECT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i, s in enumerate(sources)
    ]
    deadline = time.monotonic() + 120
    while not all((tmp_path / f"ready{i}").exists() for i in range(PEOPLE)):
        assert time.monotonic() < deadline, "the importing processes did not get ready"
        assert all(p.poll() is None for p in processes), [p.communicate() for p in processes]
        time.sleep(0.05)
    go.touch()
    outcomes = []
    for process in processes:
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, f"an import ended with a raw error:\n{err[-3000:]}"
        outcomes.append(json.loads(out.strip().splitlines()[-1]))

    wins = [o for o in outcomes if "ok" in o]
    refusals = [o["refused"] for o in outcomes if "refused" in o]
    assert len(wins) == 1 and wins[0]["ok"] == 40 + 10 + 2, outcomes
    assert len(refusals) == PEOPLE - 1
    for text in refusals:
        assert "'line-3'" in text and "already exists" in text, text
        assert str(tmp_path) not in text, text  # no server paths
    assert sorted(p.name for p in data_dir.iterdir()) == ["line-3", "other"]
    record = db_datasets.get_dataset(store, "line-3")
    assert len(db_datasets.list_images(store, record.id)) == 40 + 10 + 2
