"""An ensemble's runs: the saved runs it is made of (members read from both stores, the latest of each method or
setting) and the run it is recorded as, in both stores (method `ensemble`, its cost the sum of its members')."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from db import runs as db_runs
from db.store import Store, to_json
from engine.artifacts import load_predictions
from engine.ensemble import Combined, Member, combine
from engine.ensemble_rules import DEFAULT_RULE, check_rule
from engine.methods.catalog import ENSEMBLE
from engine.tracking import RunTracker


def load_member(run_id: int, store: Store | None = None, mlflow_uri: str | None = None) -> Member:
    """A finished run's saved predictions as an ensemble member."""
    store = store or Store.at()
    run = db_runs.get_run(store, run_id)
    if run is None or run.status != "FINISHED":
        raise ValueError(f"run #{run_id} is not a finished run")
    if run.method == ENSEMBLE:
        raise ValueError(f"run #{run_id} is an ensemble itself: choose the runs it was made of")
    preds = load_predictions(run, mlflow_uri)
    missing = [
        k for k in ("names", "labels", "scores", "train_scores", "anomaly_maps") if preds.get(k) is None
    ]
    if missing:
        raise ValueError(f"run #{run_id}'s saved predictions lack {', '.join(missing)}: train it again")
    masks = preds.get("masks")
    return Member(
        run_id=run.id,
        label=f"{run.method} #{run.id}",
        names=[str(n) for n in preds.get("names")],
        labels=preds.get("labels").astype(np.int64),
        defect_types=[str(d) for d in preds.get("defect_types")],
        scores=preds.get("scores").astype(np.float64),
        train_scores=preds.get("train_scores").astype(np.float64),
        maps=preds.get("anomaly_maps").astype(np.float32),
        masks=None if masks is None else masks.astype(np.uint8),
        run=run,
    )


def latest_members(dataset: str, store: Store | None = None, by: str = "method") -> list[int]:
    """Ids of the latest finished run on `dataset` (ensembles left out) of each method (`by="method"`) or of each
    distinct setting (`by="settings"`: method, preset, params and image size, so tuned variants of one method are
    separate members), oldest first."""
    store = store or Store.at()
    if by not in MEMBER_KEYS:
        raise ValueError(f"unknown by={by!r} for ensemble members; choose from {sorted(MEMBER_KEYS)}")
    latest: dict[tuple, int] = {}
    for run in db_runs.list_runs(store, dataset_name=dataset, status="FINISHED"):  # newest first
        if run.method != ENSEMBLE:
            latest.setdefault(MEMBER_KEYS[by](run), run.id)
    return sorted(latest.values())


MEMBER_KEYS: dict[str, Callable[[Any], tuple]] = {
    "method": lambda run: (run.method,),
    "settings": lambda run: (run.method, run.preset, to_json(run.params), run.image_size),
}


def _costs(members: Sequence[Member], n_images: int) -> dict[str, float]:
    """What the ensemble costs: every member trained and run (fit and predict times add up)."""

    def known(name: str) -> list[float]:
        return [v for m in members if (v := getattr(m.run, name, None)) is not None]

    fit, predict = sum(known("fit_seconds")), sum(known("predict_seconds"))
    out = {"fit_seconds": fit, "predict_seconds": predict}
    if predict > 0:
        out["images_per_second"] = n_images / predict
    peaks = known("peak_memory_mb")
    if peaks:
        out["peak_memory_mb"] = max(peaks)
    return out


def record(
    run_ids: Sequence[int],
    rule: str = DEFAULT_RULE,
    author: str = "",
    store: Store | None = None,
    mlflow_uri: str | None = None,
) -> tuple[int, Combined]:
    """Combine the saved runs `run_ids` by `rule` and record the result as a run in both stores; its id."""
    check_rule(rule)
    if len(set(run_ids)) < 2:
        raise ValueError("an ensemble needs at least two different runs")
    members = [load_member(i, store, mlflow_uri) for i in dict.fromkeys(run_ids)]
    runs = [m.run for m in members]
    datasets = {r.dataset_name for r in runs}
    if len(datasets) > 1:
        raise ValueError(
            f"the chosen runs are on different datasets ({', '.join(sorted(datasets))}): pick one"
        )
    combined = combine(members, rule)
    presets = {r.preset for r in runs}
    params = {
        "rule": rule,
        "members": [m.run_id for m in members],
        "member_methods": [r.method for r in runs],
    }
    note = f"ensemble ({rule}) of " + ", ".join(m.label for m in members)
    gain = combined.metrics.get("gain_over_best_member")
    if gain is not None:
        note += f"; {gain:+.3f} image AUROC over its best member"
    with RunTracker(
        dataset=runs[0].dataset_name,
        method=ENSEMBLE,
        preset=presets.pop() if len(presets) == 1 else "mixed",
        params=params,
        seed=runs[0].seed,
        image_size=runs[0].image_size,
        device="cpu",
        user=author,
        store=store,
        mlflow_uri=mlflow_uri,
    ) as tracker:
        tracker.finish(
            metrics=combined.metrics,
            arrays=combined.arrays,
            weights=None,
            notes=[note],
            timings=_costs(members, len(combined.arrays.names)),
        )
    return tracker.run_id, combined
