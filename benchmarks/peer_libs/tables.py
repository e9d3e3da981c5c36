"""The peers' CSV (one row appended per run, the header checked) and its Markdown table."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from benchmarks.harness.results import COLUMNS, Row
from engine.csv_cells import csv_cell


def append_row(path: Path, row: Row) -> None:
    """Append one row, writing the header first for a new file; refuses a file with other columns."""
    path.parent.mkdir(parents=True, exist_ok=True)
    new = not path.exists() or path.stat().st_size == 0
    if not new:
        with path.open(newline="") as handle:
            header = next(csv.reader(handle), [])
        if header != COLUMNS:
            raise SystemExit(f"error: {path} has columns {header}, expected {COLUMNS}; choose another --out")
    with path.open("a", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        if new:
            writer.writeheader()
        writer.writerow({k: "" if v is None else csv_cell(v) for k, v in asdict(row).items()})


def markdown_table(rows: Sequence[dict[str, str]]) -> str:
    head = ["dataset", "impl", "method", "image AUROC", "pixel AUROC", "fit s", "predict s", "img/s", "peak MB",
            "preset", "notes"]  # fmt: skip
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [r["dataset"], r["impl"], r["method"], _fmt(r["image_auroc"], 3), _fmt(r["pixel_auroc"], 3),
                 _fmt(r["fit_seconds"], 1), _fmt(r["predict_seconds"], 1), _fmt(r["images_per_second"], 1),
                 _fmt(r["peak_memory_mb"], 0), r["preset"], r["notes"].replace("|", "/")]  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _fmt(value: str, digits: int) -> str:
    return "-" if value in ("", None) else f"{float(value):.{digits}f}"


def write_markdown(csv_path: Path, runtime_line: str) -> Path:
    with csv_path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    md = csv_path.with_suffix(".md")
    md.write_text(f"### peers ({csv_path.name})\n\n{markdown_table(rows)}\n\n{runtime_line}\n")
    return md
