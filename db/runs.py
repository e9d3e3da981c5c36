"""The runs table and each run's per-image predictions: create, lease, update, end, list, delete."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, select, update

from db.models import Dataset, Image, ImagePrediction, Run, utcnow
from db.store import Store


def create_run(
    store: Store,
    *,
    dataset_name: str,
    method: str,
    preset: str,
    params: dict[str, Any],
    seed: int,
    image_size: int,
    mlflow_run_id: str | None = None,
    worker_id: str | None = None,
    lease_seconds: float = 60.0,
) -> int:
    """A new RUNNING run held by `worker_id` for `lease_seconds` (renewed by `renew_run_lease`); its id."""
    with store.session() as s:
        dataset_id = s.scalar(select(Dataset.id).where(Dataset.name == dataset_name))
        run = Run(
            dataset_id=dataset_id,
            dataset_name=dataset_name,
            method=method,
            preset=preset,
            params=params,
            seed=seed,
            image_size=image_size,
            mlflow_run_id=mlflow_run_id,
            status="RUNNING",
            worker_id=worker_id,
            lease_expires_at=utcnow() + timedelta(seconds=lease_seconds),
        )
        s.add(run)
        s.flush()
        return run.id


def update_run(store: Store, run_id: int, **fields: Any) -> None:
    """Set columns of a run (e.g. status, metrics, fit_seconds)."""
    with store.session() as s:
        run = s.get(Run, run_id)
        if run is None:
            raise KeyError(f"no run with id {run_id}")
        for name, value in fields.items():
            if not hasattr(Run, name):
                raise AttributeError(f"Run has no column {name!r}")
            setattr(run, name, value)
        if fields.get("status") in ("FINISHED", "FAILED") and run.ended_at is None:
            run.ended_at = utcnow()


def renew_run_lease(store: Store, run_id: int, lease_seconds: float) -> bool:
    """Prove that the process running `run_id` is alive for another `lease_seconds`; False once it ended."""
    with store.session() as s:
        renewed = s.execute(
            update(Run)
            .where(Run.id == run_id, Run.status == "RUNNING")
            .values(lease_expires_at=utcnow() + timedelta(seconds=lease_seconds))
        ).rowcount
        return renewed == 1


def running_runs(store: Store) -> list[Run]:
    with store.session() as s:
        return list(s.scalars(select(Run).where(Run.status == "RUNNING").order_by(Run.id)))


def fail_run_if_running(store: Store, run_id: int, error: str) -> bool:
    """Mark a RUNNING run FAILED with `error`; False when it had already ended."""
    with store.session() as s:
        done = s.execute(
            update(Run)
            .where(Run.id == run_id, Run.status == "RUNNING")
            .values(status="FAILED", error=error, ended_at=utcnow())
        ).rowcount
        return done == 1


def failed_runs_whose_error_contains(store: Store, text: str) -> list[Run]:
    """FAILED runs whose error holds `text` (taken literally), oldest first."""
    with store.session() as s:
        query = select(Run).where(Run.status == "FAILED", Run.error.contains(text, autoescape=True))
        return list(s.scalars(query.order_by(Run.id)))


def get_run(store: Store, run_id: int) -> Run | None:
    with store.session() as s:
        return s.get(Run, run_id)


def list_runs(
    store: Store, dataset_name: str | None = None, method: str | None = None, status: str | None = None
) -> list[Run]:
    """Runs, newest first, optionally filtered."""
    with store.session() as s:
        query = select(Run)
        if dataset_name:
            query = query.where(Run.dataset_name == dataset_name)
        if method:
            query = query.where(Run.method == method)
        if status:
            query = query.where(Run.status == status)
        return list(s.scalars(query.order_by(Run.id.desc())))


def delete_run(store: Store, run_id: int) -> None:
    with store.session() as s:
        s.execute(delete(ImagePrediction).where(ImagePrediction.run_id == run_id))
        s.execute(delete(Run).where(Run.id == run_id))


@dataclass(frozen=True)
class PredictionRow:
    image_name: str
    label: int
    defect_type: str
    score: float
    score_normalized: float  # embeddings are not kept here: they are in the run's predictions artifact


def add_predictions(store: Store, run_id: int, rows: Sequence[PredictionRow]) -> None:
    """Store per-image results of a run (one transaction)."""
    with store.session() as s:
        run = s.get(Run, run_id)
        if run is None:
            raise KeyError(f"no run with id {run_id}")
        image_ids: dict[str, int] = {}
        if run.dataset_id is not None:
            image_ids = dict(
                s.execute(select(Image.relpath, Image.id).where(Image.dataset_id == run.dataset_id)).all()
            )
        s.add_all(
            ImagePrediction(
                run_id=run_id,
                image_id=image_ids.get(row.image_name),
                image_name=row.image_name,
                label=int(row.label),
                defect_type=row.defect_type,
                score=float(row.score),
                score_normalized=float(row.score_normalized),
            )
            for row in rows
        )


def get_predictions(store: Store, run_id: int) -> list[PredictionRow]:
    """Per-image results of a run in the order they were stored."""
    with store.session() as s:
        rows = s.scalars(
            select(ImagePrediction).where(ImagePrediction.run_id == run_id).order_by(ImagePrediction.id)
        )
        return [
            PredictionRow(
                image_name=r.image_name,
                label=r.label,
                defect_type=r.defect_type,
                score=r.score,
                score_normalized=r.score_normalized,
            )
            for r in rows
        ]
