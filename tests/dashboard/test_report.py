import re
from datetime import datetime

import numpy as np
import plotly.graph_objects as go

from dashboard.leaderboard import leaderboard
from dashboard.pictures import png_bytes
from dashboard.report import Example, ReportComment, build_report
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


def test_report_holds_test_sets_notes_thresholds_maps_and_threads():
    from dashboard.report import RunCounts, ThresholdRow
    from dashboard.thresholds import Confusion

    reply = ReportComment(
        "bob", datetime(2026, 1, 2, 4, 0), "test/a.png", "glare", 1, datetime(2026, 1, 2, 4, 30)
    )
    page = _report(
        counts=[RunCounts("vae #1", 14, "good 6, square 8"), RunCounts("padim #2", 12, "good 6, square 6")],
        test_set_warning="These runs were scored on 2 different test sets (12, 14 images)",
        notes=[("vae #1", "lr 1e-3\nlonger")],
        thresholds=[ThresholdRow("vae #1", Confusion(0.52, tp=7, fp=1, tn=5, fn=1))],
        embedding_figures=[go.Figure(go.Scatter(x=[0], y=[0], name="tsne-c"))],
        not_mapped=["padim #2"],
        examples=[
            Example(
                "test/a.png",
                "anomalous (a)",
                (),
                (ReportComment("ann", datetime(2026, 1, 2, 3, 0), "test/a.png", "dent?"), reply),
            )
        ],
    )
    sizes = page[page.index("<h2>Test sets") : page.index("<h2>Run notes")]
    assert "<td>vae #1</td><td>14</td><td>good 6, square 8</td>" in sizes and "2 different test sets" in sizes
    assert "<b>vae #1</b>: lr 1e-3<br>longer" in page
    matrix = page[page.index("<h2>Thresholds") : page.index("<h2>t-SNE maps")]
    assert "vae #1 at 0.52" in matrix
    assert "<td>TN 5</td><td>FP 1</td>" in matrix and "<td>FN 1</td><td>TP 7</td>" in matrix
    assert "precision 0.88 · recall 0.88" in matrix
    maps = page[page.index("<h2>t-SNE maps") : page.index("<h2>Chosen examples")]
    assert "tsne-c" in maps and "Not computed for padim #2" in maps
    assert page.count("Plotly.newPlot") == 3 and len(re.findall(r"\* plotly\.js v\d", page)) == 1
    example = page[page.index("<h2>Chosen examples") : page.index("<h2>Comments")]
    assert example.index("dent?") < example.index("glare")  # the image's thread beside its pictures
    assert 'class="comment reply"' in example and "edited 2026-01-02 04:30 UTC" in example


def test_report_says_which_differences_are_real():
    from dashboard.score_table import ScoreTable
    from dashboard.significance import lead_table

    labels = np.r_[np.zeros(30, int), np.ones(30, int)]
    scores = np.random.default_rng(0).normal(size=60)
    names = tuple(f"i{i}" for i in range(60))
    tables = {
        k: ScoreTable(names, labels, ("x",) * 60, scores + shift * labels, scores)
        for k, shift in ((1, 3.0), (2, 0.2))
    }
    lead = lead_table([make_run(1, "vae", 0.9), make_run(2, "padim", 0.75)], tables)
    page = _report(lead=lead)
    assert "<h2>Which differences are real?</h2>" in page
    section = page.split("<h2>Which differences are real?</h2>")[1].split("<h2>")[0]
    assert "vae #1" in section and "padim #2" in section and "behind" in section and "best" in section
    assert "Which differences are real?" not in _report()  # no table, no section
