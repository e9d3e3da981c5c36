"""benchmarks/peers.py and benchmarks/peer_libs/: helpers in-process (system python), and the --smoke suite end to end
in .venv-peers."""

from __future__ import annotations

import csv
import subprocess
from pathlib import Path

import numpy as np
import pytest

from benchmarks import peers
from benchmarks.harness.results import COLUMNS, Row
from benchmarks.harness.scores import read_scores, scores_path
from benchmarks.peer_libs import anomalib_peer, folders, pyod_peer, runner, settings, tables
from engine.metrics import pixel_auroc
from tests.synthetic_mvtec import make_mvtec_folder

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "peers.py"
VENV_PYTHON = ROOT / ".venv-peers" / "bin" / "python"


def _venv_has(module: str) -> bool:
    if not VENV_PYTHON.exists():
        return False
    return subprocess.run([str(VENV_PYTHON), "-c", f"import {module}"], capture_output=True).returncode == 0


def test_rows_memory_and_auroc_are_the_engines_and_the_harness_not_copies():
    from benchmarks.harness import results
    from engine import metrics, resources

    assert runner.Row is results.Row and tables.COLUMNS is results.COLUMNS
    assert runner.PeakMemory is resources.PeakMemory
    assert (
        anomalib_peer.image_auroc is metrics.image_auroc and anomalib_peer.pixel_auroc is metrics.pixel_auroc
    )
    assert pyod_peer.image_auroc is metrics.image_auroc


def test_default_out_is_the_raw_file_not_our_rows():
    assert (
        peers.parse_args([]).out.name == "peers_raw.csv"
    )  # results/peers.csv holds `python -m benchmarks peers` rows


def test_append_writes_header_once_and_refuses_other_columns(tmp_path):
    out = tmp_path / "peers.csv"
    row = Row(
        "peers", "toy", "pyod", "vae", "vae", 0, 32, "smoke", 0.5, None, 1.0, 0.1, 80.0, 100, "cpu", "n"
    )
    tables.append_row(out, row)
    tables.append_row(out, row)
    lines = out.read_text().splitlines()
    assert lines[0] == ",".join(COLUMNS) and len(lines) == 3
    with out.open() as handle:
        first = next(csv.DictReader(handle))
    assert first["pixel_auroc"] == "" and first["image_auroc"] == "0.5"
    other = tmp_path / "other.csv"
    other.write_text("a,b\n1,2\n")
    with pytest.raises(SystemExit, match="expected"):
        tables.append_row(other, row)


def test_a_failing_method_becomes_a_row_with_the_error(tmp_path, monkeypatch):
    data = folders.scan_folder(
        make_mvtec_folder(tmp_path / "toy", n_train=4, n_good=2, defects={"sq": 2}),
        settings.PRESETS["smoke"],
        0,
    )

    def boom(*args):
        raise RuntimeError("boom")

    monkeypatch.setitem(runner.RUNNERS, "vae", boom)
    row = runner.run_one("vae", data, 32, settings.PRESETS["smoke"], 0, "cpu")
    assert row.image_auroc is None and row.fit_seconds is None
    assert "failed: RuntimeError: boom" in row.notes and row.impl == "pyod" and row.dataset == "toy"


def test_download_attempts_are_explained():
    note = runner.explain(OSError("Cannot reach huggingface.co: offline mode is enabled"))
    assert note.startswith("failed: tried to download weights") and "pre_trained must stay False" in note


def test_smoke_caps_images_and_keeps_both_classes(tmp_path):
    root = make_mvtec_folder(tmp_path / "toy", n_train=20, n_good=10, defects={"a": 5, "b": 6}, channels=1)
    data = folders.scan_folder(root, settings.PRESETS["smoke"], 0)
    assert len(data.train) == 16 and data.channels == 1 and data.has_all_masks
    assert sorted(t.label for t in data.test) == [0] * 8 + [1] * 8
    flat = pyod_peer.load_flat(data.train[:3], 16, data.channels)
    assert flat.shape == (3, 256) and flat.dtype == np.float32 and 0.0 <= flat.min() <= flat.max() <= 1.0


def test_unknown_dataset_lists_choices(tmp_path):
    with pytest.raises(SystemExit, match="piped/pa_bdp01_tl"):
        folders.resolve_dataset(str(tmp_path / "nope"))


def test_pixel_auroc_ranks_defect_pixels():
    masks = np.zeros((2, 4, 4))
    masks[1, :2, :2] = 1
    maps = masks * 2 + 0.1
    assert pixel_auroc(masks, maps) == 1.0
    assert pixel_auroc(np.zeros((1, 4, 4)), maps[:1]) is None


@pytest.mark.skipif(
    not _venv_has("pyod"), reason="peer libraries not installed: run bash benchmarks/setup_peers.sh"
)
@pytest.mark.slow  # the peer libraries' suite in their own environment
def test_smoke_suite_writes_a_well_formed_csv(tmp_path):
    folder = make_mvtec_folder(tmp_path / "toy", n_train=12, n_good=4, defects={"square": 4}, size=32)
    methods = settings.ALL_METHODS if _venv_has("anomalib") else settings.PYOD_METHODS
    out = tmp_path / "results" / "peers.csv"
    cmd = [str(VENV_PYTHON), str(SCRIPT), "--smoke", "--datasets", str(folder), "--image-size", "32",
           "--out", str(out), "--methods", ",".join(methods), "--scores", str(tmp_path / "scores")]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=900, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Suite runtime" in done.stdout
    with out.open(newline="") as handle:
        reader = csv.DictReader(handle)
        rows = list(reader)
    assert reader.fieldnames == COLUMNS
    assert [r["method"] for r in rows] == methods
    for r in rows:
        assert not r["notes"].startswith("failed"), r["notes"]
        assert r["dataset"] == "toy" and r["impl"] == runner.impl_of(r["method"]) and r["preset"] == "smoke"
        assert 0.0 <= float(r["image_auroc"]) <= 1.0 and float(r["fit_seconds"]) > 0
        if r["impl"] == "pyod":
            assert r["pixel_auroc"] == "" and r["image_size"] == "16"
    if "padim" in methods:
        padim = next(r for r in rows if r["method"] == "padim")
        assert 0.0 <= float(padim["pixel_auroc"]) <= 1.0
        for method in ("padim", "patchcore"):  # the same backbone and weights as ours
            notes = next(r for r in rows if r["method"] == method)["notes"]
            assert "efficientnet_lite0 ImageNet weights sha256 579344248a93 (ours)" in notes, notes
    md = out.with_suffix(".md").read_text()
    assert "| toy | pyod | vae |" in md and "Suite runtime" in md
    for r in rows:  # per-image scores named as our runs name them, for the paired comparison
        scored = read_scores(scores_path(tmp_path / "scores", "toy", r["impl"], r["method"]))
        assert sorted(scored) == sorted(
            f"test/{d}/{p.name}" for d in ("good", "square") for p in (folder / "test" / d).iterdir()
        )
        assert sorted(label for label, _ in scored.values()) == [0] * 4 + [1] * 4
