import subprocess
import sys
import time
from datetime import timedelta

import pytest

from db import jobs as db_jobs
from db import runs as db_runs
from db.models import Job, utcnow
from engine import jobs, tracking
from engine.executors.local import LocalProcessExecutor
from engine.recovery import recover_abandoned
from engine.runconfig import RunConfig
from engine.worker_lock import try_lock, worker_lock_path
from tests.synthetic_mvtec import make_mvtec_folder


@pytest.fixture
def folder(tmp_path):
    return make_mvtec_folder(tmp_path / "toy", n_train=8, n_good=3, defects={"square": 3}, size=32)


def _config(folder, method="autoencoder", **kw) -> RunConfig:
    return RunConfig(dataset=str(folder), method=method, preset="smoke", image_size=32, **kw)


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_payload_round_trip_through_the_store(store):
    config = RunConfig("d", "deep_svdd", "smoke", overrides=(("mode", "semi"),), labeled_anomalies=("a", "b"))
    job_id = db_jobs.add_job(store, jobs.config_to_payload(config))
    assert jobs.config_from_payload(db_jobs.get_job(store, job_id).payload) == config
    with pytest.raises(ValueError, match="unknown RunConfig fields"):
        jobs.config_from_payload({"dataset": "d", "method": "vae", "bogus": 1})
    with pytest.raises(ValueError, match="must be a JSON object"):
        jobs.config_from_payload(["d", "vae"])


def test_job_runs_to_done_with_progress(workbench_env, env_store, folder):
    job_id = jobs.enqueue(_config(folder))
    assert jobs.get_job(job_id).status == "QUEUED"
    assert jobs.run_worker(once=True) == 0
    job = jobs.get_job(job_id)
    assert job.status == "DONE", job.error
    assert job.progress == 1.0
    assert job.epoch == job.epochs == 1
    assert job.loss is not None and job.loss > 0
    run = db_runs.get_run(env_store, job.run_id)
    assert run.status == "FINISHED"
    assert run.method == "autoencoder"
    assert len(db_runs.get_predictions(env_store, run.id)) == 6


def test_cancel_queued_and_running(workbench_env, env_store, folder):
    queued = jobs.enqueue(_config(folder))
    assert jobs.cancel(queued) == "CANCELLED"

    running = jobs.enqueue(_config(folder))
    claimed = db_jobs.claim_next(env_store, worker_pid=12345)
    assert claimed.id == running  # the cancelled job is never claimed
    assert jobs.cancel(running) == "RUNNING"
    assert jobs.run_job(claimed) == "CANCELLED"
    job = jobs.get_job(running)
    assert job.status == "CANCELLED"
    assert db_runs.get_run(env_store, job.run_id).status == "FAILED"
    assert "cancelled" in db_runs.get_run(env_store, job.run_id).error
    assert db_jobs.claim_next(env_store, worker_pid=12345) is None


@pytest.mark.slow  # a dead worker's run failed in both stores, then a real run
def test_dead_worker_job_fails_and_queue_moves_on(workbench_env, env_store, folder):
    orphan = jobs.enqueue(_config(folder))
    db_jobs.claim_next(env_store, worker_pid=_dead_pid())
    tracker = tracking.RunTracker(
        dataset="toy", method="autoencoder", preset="smoke", params={}, seed=0, image_size=32, device="cpu"
    ).open()
    run_id = tracker.run_id
    db_jobs.update_job(env_store, orphan, run_id=run_id)
    waiting = jobs.enqueue(_config(folder))

    assert jobs.run_worker(once=True) == 0
    job = jobs.get_job(orphan)
    assert job.status == "FAILED"
    assert "stopped while running" in job.error
    assert db_runs.get_run(env_store, run_id).status == "FAILED"
    mlrun = tracking.mlflow_client().get_run(tracker.mlflow_run_id)
    assert mlrun.info.status == "FAILED" and "stopped while running" in mlrun.data.tags["workbench.error"]
    assert jobs.get_job(waiting).status == "DONE"


def test_silent_worker_is_recovered_after_stale_heartbeat(workbench_env, env_store, folder):
    job_id = jobs.enqueue(_config(folder))
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        db_jobs.claim_next(env_store, worker_pid=sleeper.pid)
        assert recover_abandoned() == []  # alive and fresh
        db_jobs.update_job(env_store, job_id)
        with env_store.session() as s:
            s.get(Job, job_id).heartbeat_at = utcnow() - timedelta(minutes=10)
        assert recover_abandoned() == [job_id]
        assert "no heartbeat" in jobs.get_job(job_id).error
    finally:
        sleeper.kill()
        sleeper.wait()


def test_failing_job_ends_failed_with_its_error(workbench_env, env_store):
    job_id = jobs.enqueue(RunConfig(dataset="no-such-dataset", method="autoencoder", preset="smoke"))
    jobs.run_worker(once=True)
    job = jobs.get_job(job_id)
    assert job.status == "FAILED"
    assert "unknown dataset 'no-such-dataset'" in job.error.splitlines()[0]
    assert job.run_id is None and db_runs.list_runs(env_store) == []  # it failed loading, before any record


def test_eta():
    assert jobs.eta_seconds(10.0, 0.02) is None
    assert jobs.eta_seconds(10.0, 0.5) == pytest.approx(10.0)


@pytest.mark.slow  # starts a real worker process
def test_local_executor_starts_a_detached_worker(workbench_env):
    executor = LocalProcessExecutor()
    assert not executor.is_running()
    lock = try_lock(worker_lock_path())
    assert executor.is_running()  # someone holds the worker lock
    lock.close()

    job_id = jobs.enqueue(RunConfig(dataset="no-such-dataset", method="autoencoder", preset="smoke"))
    assert executor.ensure_running()
    assert not executor.ensure_running()  # just started: not a second one
    deadline = time.monotonic() + 120
    while jobs.get_job(job_id).status == "QUEUED" and time.monotonic() < deadline:
        time.sleep(0.5)
    child, _ = executor._children[0]
    child.wait(timeout=120)
    assert jobs.get_job(job_id).status == "FAILED"
    assert not executor.is_running()
