"""Scoring images with a saved run (`python -m engine predict`): one CSV row per file (raw and normalised score,
the decision at the run's threshold, or why the file could not be scored) and a colour-mapped anomaly map per
scored image, written into a new folder that appears whole or not at all."""

from __future__ import annotations

import csv
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path, PurePosixPath

import numpy as np
import torch
from PIL import Image

from db.store import Store
from engine.batch_images import BatchItem, batched, dataset_sources, read_sources
from engine.csv_cells import csv_cell
from engine.saved_model import SavedModel

CSV_FILE = "predictions.csv"
MAPS_FOLDER = "maps"
COLUMNS = ("image", "score", "score_normalized", "decision", "map", "error")
COLORMAP = "inferno"  # as the run's own heatmaps (engine.run_figures)


@dataclass(frozen=True)
class PredictSummary:
    """What `predict --json` prints as its last line."""

    run_id: int
    n_scored: int
    n_failed: int
    n_anomalous: int
    out: str
    threshold: float

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def default_out(run_id: int) -> Path:
    return Path(f"predictions-run{run_id}")


def check_out(out: Path) -> None:
    """Refuse an output path that holds anything already: a result is never mixed with an older one."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ValueError(
            f"output folder {out} already exists and is not empty; choose another --out or remove it"
        )


def dataset_items(
    model: SavedModel, name: str, store: Store | None = None
) -> tuple[Iterator[BatchItem], int]:
    """A dataset's test images (and unlabeled ones) to score, and how many: a built-in dataset as the run
    generated it (its size and seed), else its files read as an import reads them."""
    from engine.data.builtin import is_builtin, load_builtin

    if is_builtin(name):
        test = load_builtin(name, model.image_size, int(model.spec["seed"])).test
        return (BatchItem(n, image=t) for n, t in zip(test.names, test.images, strict=True)), len(test.names)
    sources = dataset_sources(name, store)
    return read_sources(sources), len(sources)


def _colour_table() -> np.ndarray:
    from matplotlib import colormaps

    return np.round(colormaps[COLORMAP](np.linspace(0.0, 1.0, 256))[:, :3] * 255).astype(np.uint8)  # (256, 3)


def map_image(values: np.ndarray, low: float, high: float, table: np.ndarray) -> Image.Image:
    """An (H, W) anomaly map as an RGB picture, coloured on the run's own map range (comparable across images)."""
    scaled = np.clip((values.astype(np.float64) - low) / max(high - low, 1e-12), 0.0, 1.0)
    return Image.fromarray(table[np.round(scaled * 255).astype(np.uint8)], mode="RGB")


def _map_name(index: int, name: str) -> str:
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", PurePosixPath(name.replace("\\", "/")).stem)[:80]
    return f"{MAPS_FOLDER}/{index:05d}_{stem}.png"


def _score_batch(
    model: SavedModel, batch: list[BatchItem], first: int, folder: Path, table: np.ndarray
) -> list[list[object]]:
    """CSV rows of one batch in its order; writes the maps of its scored images into `folder`."""
    good = [i for i, item in enumerate(batch) if item.image is not None]
    scored: dict[int, list[object]] = {}
    if good:
        inputs = torch.stack(
            [item.image if isinstance(item.image, torch.Tensor) else model.prepare([item.image])[0]
             for item in (batch[i] for i in good)]
        )  # fmt: skip
        pred = model.score(inputs)
        scores = pred.score.numpy()
        normalized = model.normalize(scores)
        maps = pred.anomaly_map.numpy()
        for k, i in enumerate(good):
            map_name = _map_name(first + i, batch[i].name)
            map_image(maps[k], *model.map_range, table).save(folder / map_name)
            decision = "anomalous" if scores[k] > model.threshold else "normal"
            scored[i] = [f"{float(scores[k]):.9g}", f"{float(normalized[k]):.6f}", decision, map_name, ""]
    return [[item.name, *scored.get(i, ["", "", "", "", item.error or ""])] for i, item in enumerate(batch)]


def score_items(
    model: SavedModel,
    items: Iterable[BatchItem],
    out: Path,
    on_done: Callable[[int], object] | None = None,
    batch_size: int | None = None,
) -> PredictSummary:
    """Score `items` in batches (the run's batch size by default) into `out`: `predictions.csv` and `maps/`.

    Everything is written into a hidden folder beside `out` and moved into place at the end, so an
    interrupted call leaves no half-written result."""
    out = Path(out)
    check_out(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    size = batch_size or int(getattr(model.method.params, "batch_size", 32))
    work = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    n_scored = n_failed = n_anomalous = 0
    try:
        (work / MAPS_FOLDER).mkdir()
        table = _colour_table()
        with open(work / CSV_FILE, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(COLUMNS)
            first = 0
            for batch in batched(items, size):
                rows = _score_batch(model, batch, first, work, table)
                writer.writerows([csv_cell(cell) for cell in row] for row in rows)
                n_failed += sum(1 for row in rows if row[5])
                n_scored += sum(1 for row in rows if not row[5])
                n_anomalous += sum(1 for row in rows if row[3] == "anomalous")
                first += len(batch)
                if on_done is not None:
                    on_done(len(batch))
        os.chmod(work, 0o755)  # mkdtemp's folder is private to this user; the result is not
        if out.is_dir():
            out.rmdir()  # empty (check_out)
        os.replace(work, out)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return PredictSummary(model.run_id, n_scored, n_failed, n_anomalous, str(out), model.threshold)
