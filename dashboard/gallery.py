"""The Inspect gallery as pure functions: filter a run's images, cut them into pages, and write and read the
filter and page as URL query parameters."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from dashboard.score_table import ScoreTable

PAGE_SIZE = 24  # 4 rows of 6 thumbnails
LABELS = ("all", "normal", "anomalous")
SCORE_RANGE = (0.0, 1.0)  # normalised scores run from 0 to 1
# query parameter of each filter field and of the page
PARAMS = {"label": "g_label", "defect_types": "g_type", "scores": "g_score", "flagged": "g_flagged"}
PAGE_PARAM = "g_page"


@dataclass(frozen=True)
class GalleryFilter:
    """Which images the gallery shows; the defaults show all of them."""

    label: str = "all"  # one of LABELS
    defect_types: tuple[str, ...] = ()  # empty: every defect type
    scores: tuple[float, float] = SCORE_RANGE  # inclusive range of the reference run's normalised score
    flagged: bool = False  # only the images flagged for review

    def __post_init__(self) -> None:
        if self.label not in LABELS:
            raise ValueError(f"unknown label filter {self.label!r}; choose from {list(LABELS)}")


@dataclass(frozen=True)
class GalleryPage:
    """One page of the filtered images."""

    names: tuple[str, ...]
    page: int  # 1-based, within 1..pages
    pages: int  # at least 1, also when nothing matches
    total: int  # images that match the filter
    first: int  # 1-based position of names[0] among them (0 when there are none)

    @property
    def caption(self) -> str:
        """E.g. 'page 2 of 5 · images 25-48 of 110'."""
        if not self.total:
            return "page 1 of 1 · no images match the filters"
        return (
            f"page {self.page} of {self.pages} · images {self.first}-{self.first + len(self.names) - 1} "
            f"of {self.total}"
        )


def defect_types(table: ScoreTable) -> list[str]:
    """The defect types in a run's test images, sorted (normal images count as their folder's name)."""
    return sorted(set(table.defect_types))


def filter_names(
    table: ScoreTable, names: Sequence[str], chosen: GalleryFilter, flagged: Collection[str]
) -> list[str]:
    """`names` (in their order) whose image passes every field of `chosen`; names not in `table` drop out."""
    lo, hi = chosen.scores
    wanted_types = set(chosen.defect_types)
    flagged = set(flagged)
    kept = []
    for name in names:
        i = table.index(name)
        if i is None:
            continue
        label = int(table.labels[i])
        if chosen.label == "normal" and label != 0 or chosen.label == "anomalous" and label != 1:
            continue
        if wanted_types and table.defect_types[i] not in wanted_types:
            continue
        if not lo <= float(table.scores_normalized[i]) <= hi:
            continue
        if chosen.flagged and name not in flagged:
            continue
        kept.append(name)
    return kept


def page_of(names: Sequence[str], page: int, per_page: int | None = None) -> GalleryPage:
    """Page `page` (1-based; clamped to the pages there are) of `names`, `per_page` (default PAGE_SIZE) to
    a page."""
    per_page = PAGE_SIZE if per_page is None else per_page
    if per_page < 1:
        raise ValueError(f"per_page must be at least 1; got {per_page}")
    pages = max(1, -(-len(names) // per_page))
    page = min(max(int(page), 1), pages)
    start = (page - 1) * per_page
    shown = tuple(names[start : start + per_page])
    return GalleryPage(shown, page, pages, len(names), start + 1 if shown else 0)


def page_after(previous: GalleryFilter | None, current: GalleryFilter, page: int) -> int:
    """The page to show: `page` while the filter stays the same, page 1 once it changes."""
    return page if previous is None or previous == current else 1


def to_query(chosen: GalleryFilter, page: int) -> dict[str, str | list[str]]:
    """Query parameters of a filter and page; fields at their default are left out, to keep links short."""
    out: dict[str, str | list[str]] = {}
    if chosen.label != "all":
        out[PARAMS["label"]] = chosen.label
    if chosen.defect_types:
        out[PARAMS["defect_types"]] = list(chosen.defect_types)
    if tuple(chosen.scores) != SCORE_RANGE:
        out[PARAMS["scores"]] = f"{chosen.scores[0]:.2f}-{chosen.scores[1]:.2f}"
    if chosen.flagged:
        out[PARAMS["flagged"]] = "1"
    if page != 1:
        out[PAGE_PARAM] = str(page)
    return out


def _score_range(text: str) -> tuple[float, float]:
    lo, _, hi = text.partition("-")
    try:
        values = np.clip([float(lo), float(hi)], *SCORE_RANGE)
    except ValueError:
        return SCORE_RANGE
    return (float(min(values)), float(max(values)))


def from_query(params: Mapping[str, Sequence[str]]) -> tuple[GalleryFilter, int]:
    """The filter and page of query parameters (each a list of values, as repeated parameters give);
    what does not parse (a hand-edited link) falls back to its default."""

    def first(param: str) -> str | None:
        values = params.get(param) or []
        return values[0] if values else None

    label = first(PARAMS["label"])
    scores = first(PARAMS["scores"])
    page = first(PAGE_PARAM) or "1"
    chosen = GalleryFilter(
        label=label if label in LABELS else "all",
        defect_types=tuple(dict.fromkeys(params.get(PARAMS["defect_types"]) or [])),
        scores=_score_range(scores) if scores else SCORE_RANGE,
        flagged=first(PARAMS["flagged"]) == "1",
    )
    return chosen, int(page) if page.isdigit() and int(page) > 0 else 1
