"""Page runs write the server's time to WORKBENCH_PAGE_TIMES (what benchmarks/team_load.py reads), even when
the page stops early, and write nothing when it is unset."""

import time

import pytest

from dashboard import page_times


def test_a_page_run_appends_its_title_and_seconds(tmp_path, monkeypatch):
    target = tmp_path / "times.tsv"
    monkeypatch.setenv("WORKBENCH_PAGE_TIMES", str(target))
    with page_times.timed("Compare"):
        time.sleep(0.05)
    with pytest.raises(RuntimeError), page_times.timed("Inspect"):  # st.stop() leaves by an exception too
        raise RuntimeError("stopped")
    lines = [line.split("\t") for line in target.read_text().splitlines()]
    assert [title for title, _ in lines] == ["Compare", "Inspect"]
    assert float(lines[0][1]) >= 0.05


def test_nothing_is_written_without_the_variable(tmp_path, monkeypatch):
    monkeypatch.delenv("WORKBENCH_PAGE_TIMES", raising=False)
    monkeypatch.chdir(tmp_path)
    with page_times.timed("Compare"):
        pass
    assert list(tmp_path.iterdir()) == []
