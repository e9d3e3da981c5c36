"""What each figure rests on: figures from too few images or masks are greyed in the tables (pages and report)
and paled in the AUROC-per-defect-type bars."""

from __future__ import annotations

import re

import numpy as np

from dashboard import evidence, figures
from dashboard.leaderboard import leaderboard
from dashboard.report import build_report
from dashboard.run_info import RunInfo
from tests.dashboard.test_figures import make_run


def _run(run_id: int, counts: dict[str, int], pixel: float | None = 0.9) -> RunInfo:
    base = make_run(run_id, "vae", 0.95, {t: 1.0 for t in counts if t != "good"})
    return RunInfo(**{**base.__dict__, "n_per_defect_type": counts, "pixel_auroc": pixel, "pro": pixel})


def test_pixel_figures_from_few_masks_and_image_figures_from_few_images_are_weak():
    solid = _run(1, {"good": 200, "crack": 50})
    few_masks = _run(2, {"good": 200, "crack": 50})
    few_images = _run(3, {"good": 3, "crack": 50}, pixel=None)
    runs = [solid, few_masks, few_images]
    masks = {1: 50, 2: evidence.MIN_MASKS - 8, 3: None}
    board = leaderboard(runs, masks=masks)
    weak = evidence.weak_cells(board, runs, masks).set_index(board["run"])
    assert board["masks"].tolist()[:2] == [50, 2]
    assert not weak.loc["vae #1"].any()
    assert (
        weak.loc["vae #2", "pixel AUROC"]
        and weak.loc["vae #2", "PRO"]
        and not weak.loc["vae #2", "image AUROC"]
    )
    assert weak.loc["vae #3", "image AUROC"] and weak.loc["vae #3", "AP"]  # 3 normal test images
    assert not weak.loc["vae #3", "pixel AUROC"]  # no pixel AUROC to grey

    style = evidence.styled(board, evidence.weak_cells(board, runs, masks)).to_html().split("</style>")[0]
    greyed = {(int(r), board.columns[int(c)]) for r, c in re.findall(r"_row(\d+)_col(\d+)", style)}
    assert evidence.WEAK_COLOUR in style
    assert greyed == {(1, "pixel AUROC"), (1, "PRO"), (2, "image AUROC"), (2, "AP"), (2, "best F1")}


def test_the_report_greys_the_same_cells_and_says_why():
    runs = [_run(1, {"good": 200, "crack": 50}), _run(2, {"good": 200, "crack": 50})]
    masks = {1: 50, 2: 2}
    board = leaderboard(runs, masks=masks)
    page = build_report(
        dataset="parts",
        leaderboard=board,
        weak=evidence.weak_cells(board, runs, masks),
        figures=[],
        examples=[],
        comments=[],
        generated_at=np.datetime64("2026-01-02T03:04").astype(object),
    )
    row = page[page.index("<td>vae #2</td>") :].split("</tr>")[0]
    assert row.count('class="weak"') == 2 and evidence.NOTE in page
    assert (
        "<td>vae #1</td>" in page
        and 'class="weak"' not in page[page.index("<td>vae #1</td>") :].split("</tr>")[0]
    )


def test_a_defect_type_of_one_image_is_named_with_its_count_and_paled():
    run = _run(1, {"good": 20, "dent": 1, "crack": 30})
    fig = figures.defect_auroc_figure([run])
    [bars] = fig.data
    assert list(bars.x) == ["crack<br>(30 images)", "dent<br>(1 image)"]
    assert list(bars.marker.opacity) == [1.0, 0.3]
    assert fig.layout.uniformtext.mode == "hide"  # labels that would not fit are left out, not overlapped
