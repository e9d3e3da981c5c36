"""Queries of the training queue (the `jobs` table): add, claim atomically, progress, cancel, finish, fail."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from db.models import Job, Run, utcnow
from db.store import Store

STATUSES = ("QUEUED", "RUNNING", "DONE", "FAILED", "CANCELLED")
LEASE_SECONDS = 60.0  # a RUNNING job or run whose lease is not renewed for this long is abandoned
ACTIVE = ("QUEUED", "RUNNING")
RETRIABLE = ("FAILED", "CANCELLED")  # what Retry queues again, once


class NotRetriable(ValueError):
    """A retry of a job that did not fail or get cancelled, or that was retried already."""


def add_job(store: Store, payload: dict[str, Any], kind: str = "train", retry_of: int | None = None) -> int:
    """A new QUEUED job; returns its id. `retry_of`: the FAILED or CANCELLED job it retries, once only (a unique
    column, so two clicks on Retry, by one person or two, queue one job); NotRetriable otherwise."""
    try:
        with store.session() as s:
            if retry_of is not None and (refusal := _retry_refusal(s, retry_of)):
                raise NotRetriable(refusal)
            job = Job(kind=kind, payload=payload, status="QUEUED", progress=0.0, retry_of=retry_of)
            s.add(job)
            s.flush()
            return job.id
    except IntegrityError:  # another retry of the same job was added meanwhile
        if retry_of is None:
            raise
        with store.session() as s:
            raise NotRetriable(
                _retry_refusal(s, retry_of) or f"job #{retry_of} was retried already"
            ) from None


def _retry_refusal(s: Session, job_id: int) -> str | None:
    """Why job `job_id` cannot be retried (gone, not failed or cancelled, retried already), or None."""
    job = s.get(Job, job_id)
    if job is None:
        return f"there is no job #{job_id}"
    retry = s.scalar(select(Job).where(Job.retry_of == job_id))
    if retry is not None:
        return f"job #{job_id} was retried already as job #{retry.id}, which is {retry.status.lower()}"
    if job.status not in RETRIABLE:
        return f"job #{job_id} is {job.status.lower()}; only failed or cancelled jobs are retried"
    return None


def lease_until() -> datetime:
    """When a lease taken or renewed now expires."""
    return utcnow() + timedelta(seconds=LEASE_SECONDS)


def claim_next(store: Store, worker_pid: int, worker_id: str | None = None) -> Job | None:
    """Move the oldest QUEUED job to RUNNING for the worker and return it; None when the queue is empty.

    Each claim is a conditional UPDATE (`claim`), atomic across worker processes and hosts; the claim is a
    lease that the worker's heartbeats renew."""
    while True:
        with store.session() as s:
            job_id = s.scalar(select(Job.id).where(Job.status == "QUEUED").order_by(Job.id).limit(1))
        if job_id is None:
            return None
        job = claim(store, job_id, worker_pid, worker_id)
        if job is not None:
            return job
        # another worker claimed it between the select and the update: try the next one


def claim(
    store: Store, job_id: int, worker_pid: int, worker_id: str | None, again: bool = False
) -> Job | None:
    """Move one QUEUED job to RUNNING for the worker (atomically); None when it was not QUEUED any more.

    `again`: a RUNNING job that `worker_id` already holds is claimed too (a task retried by Ray after its node
    was lost re-claims its own job; nobody else's)."""
    now = utcnow()
    claimable = Job.status == "QUEUED"
    if again and worker_id:
        claimable = or_(claimable, and_(Job.status == "RUNNING", Job.worker_id == worker_id))
    with store.session() as s:
        claimed = s.execute(
            update(Job)
            .where(Job.id == job_id, claimable)
            .values(
                status="RUNNING",
                worker_pid=worker_pid,
                worker_id=worker_id,
                started_at=now,
                heartbeat_at=now,
                lease_expires_at=lease_until(),
            )
        ).rowcount
        if claimed != 1:
            return None
        s.flush()
        return s.get(Job, job_id, populate_existing=True)


def update_job(store: Store, job_id: int, **fields: Any) -> None:
    """Set columns of a job (progress, epoch, loss, run_id...) and renew its heartbeat and lease."""
    unknown = [name for name in fields if not hasattr(Job, name)]
    if unknown:
        raise AttributeError(f"Job has no column(s) {unknown}")
    with store.session() as s:
        s.execute(
            update(Job)
            .where(Job.id == job_id)
            .values(**fields, heartbeat_at=utcnow(), lease_expires_at=lease_until())
        )


def finish_job(store: Store, job_id: int, status: str, error: str | None = None, **fields: Any) -> None:
    """End a job as DONE, FAILED or CANCELLED."""
    if status not in ("DONE", "FAILED", "CANCELLED"):
        raise ValueError(f"bad final job status {status!r}; choose from ['DONE', 'FAILED', 'CANCELLED']")
    now = utcnow()
    with store.session() as s:
        s.execute(
            update(Job)
            .where(Job.id == job_id)
            .values(status=status, error=error, ended_at=now, heartbeat_at=now, eta_seconds=None, **fields)
        )


def request_cancel(store: Store, job_id: int) -> str:
    """Cancel a QUEUED job at once or ask a RUNNING one to stop; returns the job's status afterwards."""
    with store.session() as s:
        job = s.get(Job, job_id)
        if job is None:
            raise KeyError(f"no job with id {job_id}")
        if job.status == "QUEUED":
            done = s.execute(
                update(Job)
                .where(Job.id == job_id, Job.status == "QUEUED")
                .values(
                    status="CANCELLED",
                    cancel_requested=True,
                    ended_at=utcnow(),
                    error="cancelled before it started",
                )
            ).rowcount
            if done == 1:
                return "CANCELLED"
            s.refresh(job)
        if job.status == "RUNNING":
            job.cancel_requested = True
        return job.status


def cancel_requested(store: Store, job_id: int) -> bool:
    with store.session() as s:
        return bool(s.scalar(select(Job.cancel_requested).where(Job.id == job_id)))


def get_job(store: Store, job_id: int) -> Job | None:
    with store.session() as s:
        return s.get(Job, job_id)


def list_jobs(store: Store, statuses: tuple[str, ...] | None = None, limit: int = 100) -> list[Job]:
    """Jobs, newest first, optionally only those with one of `statuses`."""
    with store.session() as s:
        query = select(Job)
        if statuses:
            query = query.where(Job.status.in_(statuses))
        return list(s.scalars(query.order_by(Job.id.desc()).limit(limit)))


def running_jobs(store: Store) -> list[Job]:
    with store.session() as s:
        return list(s.scalars(select(Job).where(Job.status == "RUNNING").order_by(Job.id)))


def fail_job_and_run(
    store: Store, job_id: int, error: str, holder: str | None = None, queued_too: bool = False
) -> bool:
    """Mark the job FAILED with `error`, and its run too if still RUNNING, when the job is RUNNING (held by
    `holder`, when given) or, with `queued_too`, still QUEUED; False when it was neither (it has ended, or
    someone else runs it)."""
    now = utcnow()
    running = (
        Job.status == "RUNNING" if holder is None else and_(Job.status == "RUNNING", Job.worker_id == holder)
    )
    with store.session() as s:
        done = s.execute(
            update(Job)
            .where(Job.id == job_id, or_(running, Job.status == "QUEUED") if queued_too else running)
            .values(status="FAILED", error=error, ended_at=now, eta_seconds=None)
        ).rowcount
        if done != 1:
            return False
        run_id = s.scalar(select(Job.run_id).where(Job.id == job_id))
        if run_id is not None:
            s.execute(
                update(Run)
                .where(Run.id == run_id, Run.status == "RUNNING")
                .values(status="FAILED", error=error, ended_at=now)
            )
        return True


def renew_held(store: Store, job_ids: list[int], worker_id: str) -> None:
    """Renew the lease of those RUNNING jobs among `job_ids` that `worker_id` holds (a dispatcher whose tasks
    Ray still runs or retries)."""
    if not job_ids:
        return
    with store.session() as s:
        s.execute(
            update(Job)
            .where(Job.id.in_(job_ids), Job.status == "RUNNING", Job.worker_id == worker_id)
            .values(heartbeat_at=utcnow(), lease_expires_at=lease_until())
        )
