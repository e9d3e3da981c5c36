"""Re-score a finished run on the current labels: its saved predictions evaluated again against the labels as
they are now, recorded as a new run (no re-training), so runs scored before and after labels changed compare."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from db import labels
from db import runs as db_runs
from db.store import Store
from engine.artifacts import RunArrays, load_predictions
from engine.compute import evaluate, label_set
from engine.data.masks import load_mask
from engine.methods.prediction import Prediction
from engine.tracking import RunTracker


@dataclass(frozen=True)
class Rescored:
    """A re-scored run and what changed in its test set."""

    run_id: int  # the new run
    source_id: int
    n_test: int
    dropped: int  # images the source run scored that have no label now
    unscored: int  # images labeled now that the source run never scored (added since; training scores them)


def current_label_set(dataset: str, store: Store | None = None) -> dict[str, Any] | None:
    """`engine.compute.label_set` of the images a new run on `dataset` would be scored on; None for built-ins."""
    store = store or Store.at()
    current = labels.scored_labels(store, dataset)
    if current is None:
        return None
    rows = current[1]
    return label_set([r.name for r in rows], np.array([r.label for r in rows]), [r.defect_type for r in rows])


def _masks(root: Path, rows: list[labels.ScoredLabel], height: int, width: int) -> np.ndarray | None:
    if not any(r.mask_relpath for r in rows):
        return None
    empty = np.zeros((height, width), dtype=bool)
    loaded = [load_mask(root, r.mask_relpath, height, width) for r in rows]
    return np.stack([empty if m is None else m for m in loaded]).astype(np.uint8)  # (N, H, W)


def rescore(run_id: int, author: str, store: Store | None = None, mlflow_uri: str | None = None) -> Rescored:
    """Evaluate run `run_id`'s saved scores and maps on the current labels and record that as a new run."""
    store = store or Store.at()
    run = db_runs.get_run(store, run_id)
    if run is None or run.status != "FINISHED":
        raise ValueError(f"run #{run_id} is not a finished run")
    current = labels.scored_labels(store, run.dataset_name)
    if current is None:
        raise ValueError(f"{run.dataset_name!r} is a built-in set: its labels never change")
    root, rows = Path(current[0]), current[1]
    preds = load_predictions(run, mlflow_uri)
    names = [str(n) for n in preds.get("names")]
    by_name = {r.name: r for r in rows}
    keep = np.array([n in by_name for n in names], dtype=bool)
    if not keep.any():
        raise ValueError(f"none of the images run #{run_id} scored is labeled now; train the method again")
    kept = [by_name[n] for n, k in zip(names, keep, strict=True) if k]
    new_labels = np.array([r.label for r in kept], dtype=np.int64)
    defects = [r.defect_type for r in kept]

    def part(key: str) -> np.ndarray | None:
        value = preds.get(key)
        return None if value is None else value[keep]

    maps = part("anomaly_maps").astype(np.float32)  # (N, H, W)
    masks = _masks(root, kept, *maps.shape[1:])
    scores = part("scores").astype(np.float32)
    train_scores = preds.get("train_scores")
    prediction = Prediction(
        score=torch.from_numpy(scores),
        anomaly_map=torch.from_numpy(maps),
        embedding=torch.from_numpy(part("embeddings").astype(np.float32)),
    )
    metrics = {
        **(run.metrics or {}),
        **evaluate(prediction, new_labels, defects, masks, train_scores),
    }
    metrics.update(label_set([r.name for r in kept], new_labels, defects), rescored_from=run.id)
    arrays = RunArrays(
        names=[r.name for r in kept],
        labels=new_labels,
        defect_types=defects,
        scores=scores,
        scores_normalized=part("scores_normalized"),
        embeddings=part("embeddings"),
        centroid=preds.get("centroid"),
        train_embeddings=preds.get("train_embeddings"),
        train_scores=train_scores,
        anomaly_maps=maps,
        reconstructions=part("reconstructions"),
        attentions=part("attentions"),
        masks=masks,
    )
    dropped, unscored = int((~keep).sum()), len(set(by_name) - set(names))
    note = f"re-scored from run #{run.id} on the current labels ({len(kept)} images"
    note += f"; {dropped} no longer labeled left out" if dropped else ""
    note += f"; {unscored} labeled since not scored: train again to score them)" if unscored else ")"
    with RunTracker(
        dataset=run.dataset_name,
        method=run.method,
        preset=run.preset,
        params=(run.params or {}),
        seed=run.seed,
        image_size=run.image_size,
        device=run.device or "cpu",
        user=author,
        store=store,
        mlflow_uri=mlflow_uri,
    ) as tracker:  # recorded in both stores like a trained run; the artifact goes to MLflow
        tracker.finish(
            metrics=metrics,
            arrays=arrays,
            weights=None,
            notes=[n for n in (note, run.notes) if n],
            timings={
                k: v
                for k in ("fit_seconds", "predict_seconds", "images_per_second", "peak_memory_mb")
                if (v := getattr(run, k)) is not None
            },
        )
    new_id = tracker.run_id
    return Rescored(new_id, run.id, len(kept), dropped, unscored)
