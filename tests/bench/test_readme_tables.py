"""The documents' results blocks are filled from benchmarks/results/*.md, and only between their markers."""

from __future__ import annotations

import importlib.util
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("readme_tables", PROJECT / "benchmarks" / "readme_tables.py")
readme_tables = importlib.util.module_from_spec(spec)
spec.loader.exec_module(readme_tables)


def test_blocks_are_replaced_by_their_summaries(tmp_path: Path) -> None:
    (tmp_path / "leaderboard.md").write_text("| a | b |\n|---|---|\n| 1 | 2 |\n")
    readme = (
        "intro\n<!-- results:leaderboard -->\nold table\n<!-- /results:leaderboard -->\nmiddle\n"
        "<!-- results:peers -->\n<!-- /results:peers -->\nend\n"
    )
    out = readme_tables.filled(readme, tmp_path)
    assert "old table" not in out
    assert (
        "<!-- results:leaderboard -->\n| a | b |\n|---|---|\n| 1 | 2 |\n<!-- /results:leaderboard -->" in out
    )
    assert "(not measured yet: the command above writes benchmarks/results/peers.md)" in out
    assert out.startswith("intro\n") and "\nmiddle\n" in out and out.endswith("end\n")
    assert readme_tables.filled(out, tmp_path) == out  # filling twice changes nothing


def test_project_documents_match_the_recorded_results() -> None:
    assert any(readme_tables.BLOCK.search(d.read_text()) for d in readme_tables.DOCUMENTS)
    for document in readme_tables.DOCUMENTS:
        text = document.read_text()
        assert readme_tables.filled(text) == text, f"{document.name}: run python benchmarks/readme_tables.py"
