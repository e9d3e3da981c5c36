import re
from datetime import datetime

import numpy as np
import plotly.graph_objects as go

from dashboard.pictures import png_bytes
from dashboard.report import Example, ReportComment, build_report
from dashboard.results import leaderboard
from tests.dashboard.test_figures import make_run


def _report(**kwargs) -> str:
    runs = [make_run(1, "vae", 0.9), make_run(2, "padim", 0.75)]
    defaults = {
        "dataset": "parts",
        "leaderboard": leaderboard(runs, sort=True),
        "figures": [
            go.Figure(go.Scatter(x=[0, 1], y=[0, 1], name="curve-a")),
            go.Figure(go.Bar(x=["a"], y=[1], name="bars-b")),
        ],
        "examples": [
            Example(
                "test/a.png",
                "anomalous (a)",
                (
                    ("input", png_bytes(np.zeros((8, 8), np.uint8))),
                    ("vae #1: 0.91", png_bytes(np.ones((8, 8, 3)))),
                ),
            ),
        ],
        "comments": [ReportComment("ann", datetime(2026, 1, 2, 3, 4), "vae #1", "good\nrun")],
        "generated_at": datetime(2026, 1, 2, 5, 6),
    }
    return build_report(**{**defaults, **kwargs})


def test_report_is_self_contained():
    page = _report()
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert not re.search(r"<script[^>]*\bsrc\s*=", page, re.I)  # no external scripts
    assert not re.search(r"<(img|source|iframe|embed)[^>]*\bsrc\s*=\s*[\"']?(https?:)?//", page, re.I)
    assert not re.search(r"<link[^>]*\bhref\s*=\s*[\"']?(https?:)?//", page, re.I)
    assert not re.search(r"url\(\s*[\"']?(https?:)?//", page, re.I) and "@import" not in page
    assert page.count("Plotly.newPlot") == 2  # both figures drawn ...
    assert len(re.findall(r"\* plotly\.js v\d", page)) == 1  # ... with the library inlined once
    images = re.findall(r'<img alt="([^"]*)" src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert [alt for alt, _ in images] == ["input", "vae #1: 0.91"]


def test_report_holds_leaderboard_examples_and_comments_in_order():
    page = _report()
    assert page.index("vae #1") < page.index("padim #2")  # sorted by AUROC
    assert "0.900" in page and "0.750" in page
    assert "test/a.png" in page and "anomalous (a)" in page
    assert "ann · 2026-01-02 03:04 UTC · on vae #1" in page and "good<br>run" in page
    assert "generated 2026-01-02 05:06 UTC" in page
    assert (
        page.index("<h2>Leaderboard")
        < page.index("curve-a")
        < page.index("<h2>Chosen examples")
        < page.index("<h2>Comments")
    )


def test_user_text_is_escaped():
    evil = '<img src="https://evil.example/x.png" onerror="alert(1)">'
    page = _report(
        dataset="<b>x</b>",
        examples=[Example(evil, evil, ())],
        comments=[ReportComment(evil, datetime(2026, 1, 1), evil, evil)],
        author=evil,
    )
    assert "evil.example" in page and '<img src="https://evil.example' not in page
    assert "&lt;b&gt;x&lt;/b&gt;" in page


def test_empty_sections_say_so():
    page = _report(examples=[], comments=[], figures=[])
    assert "No images were flagged" in page and "No comments." in page
    assert "plotly" not in page.lower()
