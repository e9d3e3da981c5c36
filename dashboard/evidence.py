"""How many images and drawn masks each figure rests on, and which figures rest on too few to rank runs by:
those are greyed in the figures tables (pages and report) and paled in the AUROC-per-defect-type bars."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd
from pandas.io.formats.style import Styler

from dashboard.leaderboard import LEADERBOARD_DIGITS
from dashboard.run_info import RunInfo

MIN_MASKS = 10  # pixel AUROC and PRO from fewer drawn masks: a few regions decide them
MIN_IMAGES = (
    5  # an AUROC from fewer normal or anomalous images (of one defect type): one image moves it by 0.2
)
NORMAL_TYPES = ("good", "normal")  # the defect type of normal images (engine.data.types.NORMAL, older sets)
IMAGE_COLUMNS = ("image AUROC", "AP", "best F1", "detection rate")
PIXEL_COLUMNS = ("pixel AUROC", "PRO")
WEAK_COLOUR = "#9a9a9a"
NOTE = (
    f"Grey: the figure rests on fewer than {MIN_IMAGES} normal or anomalous test images (image figures) or on "
    f"fewer than {MIN_MASKS} drawn masks (pixel AUROC, PRO); the columns n and masks say how many."
)


def class_counts(run: RunInfo) -> tuple[int, int] | None:
    """(normal, anomalous) test images the run was scored on; None when it did not record them."""
    if not run.n_per_defect_type:
        return None
    normal = sum(n for t, n in run.n_per_defect_type.items() if t in NORMAL_TYPES)
    return normal, sum(run.n_per_defect_type.values()) - normal


def weak_image_figures(run: RunInfo) -> bool:
    """Whether the run's image AUROC, AP, best F1 and detection rate rest on too few images of a class."""
    counts = class_counts(run)
    return counts is not None and min(counts) < MIN_IMAGES


def weak_pixel_figures(n_masks: int | None) -> bool:
    """Whether pixel AUROC and PRO computed from `n_masks` drawn masks rest on too few."""
    return n_masks is not None and n_masks < MIN_MASKS


def weak_defect_type(run: RunInfo, defect_type: str) -> bool:
    """Whether the run's AUROC of `defect_type` rests on too few images of that type (or of normal ones)."""
    counts = class_counts(run)
    n = run.n_per_defect_type.get(defect_type)
    return (n is not None and n < MIN_IMAGES) or (counts is not None and counts[0] < MIN_IMAGES)


def weak_cells(board: pd.DataFrame, runs: Sequence[RunInfo], masks: Mapping[int, int | None]) -> pd.DataFrame:
    """A frame of booleans shaped like `board` (a `leaderboard.leaderboard`): True where a figure rests on too
    few images or masks."""
    by_label = {run.label: run for run in runs}
    weak = pd.DataFrame(False, index=board.index, columns=board.columns)
    for index, label in board["run"].items():
        run = by_label.get(label)
        if run is None:
            continue
        for column in IMAGE_COLUMNS:
            if column in board.columns and pd.notna(board.at[index, column]):
                weak.at[index, column] = weak_image_figures(run)
        for column in PIXEL_COLUMNS:
            if column in board.columns and pd.notna(board.at[index, column]):
                weak.at[index, column] = weak_pixel_figures(masks.get(run.id))
    return weak


def styled(board: pd.DataFrame, weak: pd.DataFrame) -> Styler:
    """`board` with its number columns at the leaderboard's decimals and the weak cells greyed and italic
    (for `st.dataframe` and `st.table`)."""
    digits = {c: d for c, d in LEADERBOARD_DIGITS.items() if c in board.columns}
    formats: dict[str, object] = {c: f"{{:.{d}f}}" for c, d in digits.items()}
    if "masks" in board.columns:
        formats["masks"] = "{:.0f}"
    if "n" in board.columns:
        formats["n"] = "{:.0f}"
    grey = f"color: {WEAK_COLOUR}; font-style: italic"
    return board.style.format(formats, na_rep="–").apply(
        lambda _: weak.map(lambda w: grey if w else ""), axis=None
    )
