"""Parts of the Review page: the chosen examples (their pictures, for the page and the report, with the comments
on each image beside them) and the report."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import streamlit as st

from dashboard import (
    champion_panel,
    comment_threads,
    evidence,
    figures,
    inspect_view,
    leaderboard,
    pictures,
    results_cache,
    results_file,
    run_info,
    selection,
    thresholds,
)
from dashboard.cache import app_store
from dashboard.embedding_figures import embedding_figure
from dashboard.report import Example, RunCounts, ThresholdRow, build_report
from dashboard.results_file import ImageViews
from dashboard.run_info import RunInfo
from db import comments
from db.comments import CommentRow, FlagRow

EXAMPLE_PX = 128  # the width an example's pictures are shown at; they are sent at the image's own size
MAP_ALPHA = 0.6  # of an error map over its image (dark = low, as in the presentation)


@dataclass(frozen=True)
class RunView:
    """One run's view of a flagged image: its normalised score and maps with the run's map range."""

    run: RunInfo
    score: float
    views: ImageViews
    lo: float
    hi: float


@dataclass(frozen=True)
class FlaggedImage:
    truth: str
    picture: np.ndarray | None  # the input at its own size (at most FULL_PX), defect outlined
    views: tuple[RunView, ...]
    unreadable: tuple[str, ...]  # a sentence per run whose results file cannot be read


def flagged_image(name: str, runs: Sequence[RunInfo]) -> FlaggedImage:
    """The input and each run's maps of test image `name` (runs that did not score it are left out)."""
    truth, picture = "not in the selected runs' test sets", None
    shown: list[RunView] = []
    unreadable: list[str] = []
    for run in runs:
        table = results_cache.score_table(run.id)
        i = table.index(name)
        try:
            views = results_cache.image_views(run.id, name)
            lo, hi = results_cache.map_range(run.id)
        except results_file.ResultsFileError:
            unreadable.append(results_file.unreadable(run))
            continue
        if i is None or views is None:
            continue
        truth = "normal" if table.labels[i] == 0 else f"anomalous ({table.defect_types[i]})"
        views = inspect_view.cropped(views)
        if not shown and (picture := inspect_view.own_picture(run, name)) is not None:
            picture = pictures.resized(picture, min(max(picture.shape[:2]), inspect_view.FULL_PX))
            height, width = picture.shape[:2]
            defect = inspect_view.defect_mask(run, name, views.mask, views.anomaly_map, height, width)
            if defect is not None:
                picture = pictures.outline(picture, defect)
        shown.append(RunView(run, float(table.scores_normalized[i]), views, lo, hi))
    return FlaggedImage(truth, picture, tuple(shown), tuple(unreadable))


def flagged_by(flag: FlagRow, typed: Callable[[str], str] = str) -> str:
    """'flagged by ann from run #3: clear miss' (name and note passed through `typed`)."""
    note = f": {typed(flag.note)}" if flag.note else ""
    flagged_from = f" from run #{flag.run_id}" if flag.run_id is not None else ""
    return f"flagged by {typed(flag.author)}{flagged_from}{note}"


def caption(image: FlaggedImage, flag: FlagRow, typed: Callable[[str], str] = str) -> str:
    """Truth, who flagged it (from which run, with the note), and a sentence per unreadable results file; what
    people typed (defect type, name, note) passed through `typed` (e.g. `literal` for Markdown)."""
    text = f"{typed(image.truth)} · {flagged_by(flag, typed)} · numbers are normalised scores"
    return " ".join([text, *image.unreadable])


def example(
    flag: FlagRow,
    runs: Sequence[RunInfo],
    notes: Sequence[CommentRow] = (),
    typed: Callable[[str], str] = str,
) -> Example:
    """The input (defect outlined) and each run's error map of a flagged image, its truth, note and comments;
    title and caption as Markdown with `typed=literal` (for the page), as plain text by default (the report)."""
    image = flagged_image(flag.image_name, runs)
    size = _picture_px(image.picture)
    shown = [("input", pictures.png_bytes(image.picture, size))] if image.picture is not None else []
    for view in image.views:
        drawn = (
            pictures.heat(view.views.anomaly_map, view.lo, view.hi)
            if image.picture is None
            else pictures.overlay(image.picture, view.views.anomaly_map, MAP_ALPHA, view.lo, view.hi)
        )
        shown.append((f"{view.run.label}: {view.score:.3f}", pictures.png_bytes(drawn, size)))
    return Example(
        title=typed(flag.image_name),
        caption=caption(image, flag, typed),
        pictures=tuple(shown),
        comments=tuple(comment_threads.report_comments(notes, runs)),
    )


def _picture_px(picture: np.ndarray | None) -> int:
    """The longer side an example's pictures are sent at: the image's own, within EXAMPLE_PX..FULL_PX, so the
    fullscreen button (and a click in the report) shows them sharp."""
    own = EXAMPLE_PX if picture is None else max(picture.shape[:2])
    return int(np.clip(own, EXAMPLE_PX, inspect_view.FULL_PX))


def show_example(item: Example, key: str) -> bool:
    """Draw one example's heading and pictures (made by `example(..., typed=literal)`); True when its Unflag
    button was pressed."""
    head, button = st.columns([5, 1])
    head.markdown(f"**{item.title}**  \n{item.caption}")
    pressed = button.button("Unflag", key=key, icon=":material/flag:")
    if item.pictures:
        st.image(
            [png for _, png in item.pictures], caption=[label for label, _ in item.pictures], width=EXAMPLE_PX
        )
    return pressed


def image_comments(rows: Sequence[CommentRow], image_name: str) -> list[CommentRow]:
    return [row for row in rows if row.image_name == image_name]


def confusions(runs: Sequence[RunInfo]) -> dict[int, thresholds.Confusion]:
    """Each run's confusion at the threshold chosen for it on Compare (`thresholds.confusion_at`, as Compare)."""
    out = {}
    for run in runs:
        table = results_cache.score_table(run.id)
        out[run.id] = thresholds.confusion_at(table.labels, table.scores_normalized, selection.threshold(run))
    return out


def roc_with_thresholds(runs: Sequence[RunInfo]):
    """The ROC figure with each run's chosen threshold marked on its curve."""
    return figures.add_threshold_markers(figures.roc_figure(runs), runs, confusions(runs))


def report_html(dataset: str, runs: Sequence[RunInfo], author: str) -> str:
    """The self-contained HTML report of what the Review page shows, with the champion, thresholds, test sets,
    run notes and the t-SNE maps computed so far."""
    flags = comments.list_flags(app_store(), dataset)
    notes = comments.list_comments(app_store(), dataset)
    flagged = {flag.image_name for flag in flags}
    maps = {run.id: results_cache.computed_embedding_map(run.id) for run in runs}
    by_run = confusions(runs)
    masks = results_cache.mask_counts(list(runs))
    champion = champion_panel.current(dataset)
    board = leaderboard.leaderboard(runs, sort=True, masks=masks, champion=champion)
    return build_report(
        dataset=dataset,
        leaderboard=board,
        weak=evidence.weak_cells(board, runs, masks),
        champion=champion_panel.label(champion, runs),
        figures=[figures.add_threshold_markers(figures.roc_figure(runs), runs, by_run)]
        + ([figures.defect_auroc_figure(runs)] if any(r.auroc_per_defect_type for r in runs) else []),
        examples=[example(flag, runs, image_comments(notes, flag.image_name)) for flag in flags],
        comments=comment_threads.report_comments([c for c in notes if c.image_name not in flagged], runs),
        generated_at=datetime.now(UTC).replace(tzinfo=None),
        author=author,
        counts=[RunCounts(run.label, run.n_test, leaderboard.test_images(run)) for run in runs],
        test_set_warning=run_info.test_set_warning(runs, results_cache.current_label_set(dataset)),
        notes=[(run.label, run.notes) for run in runs if run.notes],
        thresholds=[ThresholdRow(run.label, by_run[run.id]) for run in runs],
        embedding_figures=[
            embedding_figure(maps[run.id], "defect type", run.label) for run in runs if maps[run.id]
        ],
        not_mapped=[run.label for run in runs if maps[run.id] is None],
        lead=results_cache.lead_table(runs),
    )
