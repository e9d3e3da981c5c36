"""Ray places the work: a sweep spread over two nodes (`ray.cluster_utils.Cluster`, one CPU each) survives
losing one of them mid-job; every job ends DONE or FAILED with why, and every run is recorded once."""

from __future__ import annotations

from dataclasses import replace

from db import runs as db_runs
from db.store import Store
from engine import jobs, sweep
from engine.executors.ray_dispatch import RayExecutor
from engine.tracking import mlflow_client
from tests.faults.conftest import wait_for
from tests.scale.ray_cluster import dispatcher_log, nodes_that_ran

ENDED = ("DONE", "FAILED", "CANCELLED")


def _running_on(cluster, node) -> int | None:
    """A job RUNNING in a Ray worker process of `node` right now."""
    for view in jobs.list_jobs(("RUNNING",)):
        run = db_runs.get_run(Store.at(), view.run_id) if view.run_id else None
        pid = int(run.worker_id.split(":")[1]) if run is not None and run.status == "RUNNING" else None
        if pid is not None and cluster.node_of(pid) is node:
            return view.id
    return None


def test_a_sweep_spreads_over_two_nodes_and_survives_losing_one(
    ray_cluster, toy_folder, workbench_env, env_store
):
    cluster = ray_cluster(head_cpus=1, workers=1)
    head, worker = cluster.cluster.head_node, next(iter(cluster.cluster.worker_nodes))
    configs = sweep.grid([str(toy_folder)], ["autoencoder"], ["smoke"], list(range(6)), image_size=32)
    configs = [replace(c, overrides=(("epochs", "40"),)) for c in configs]  # a few seconds each
    ids = sweep.enqueue_sweep(configs)
    assert RayExecutor().ensure_running()  # the dispatcher, in a session of its own

    def both_nodes_ran_one_and_the_worker_runs_another() -> int | None:
        ran = set(nodes_that_ran(dispatcher_log()).values())
        if {head.node_id, worker.node_id} <= ran:
            return _running_on(cluster, worker)
        return None

    lost = wait_for(both_nodes_ran_one_and_the_worker_runs_another, 300, "a job done on each node")
    cluster.cluster.remove_node(worker)  # its raylet, agents and workers are killed mid-job

    wait_for(lambda: all(jobs.get_job(i).status in ENDED for i in ids), 400, "every job to end")
    views = {i: jobs.get_job(i) for i in ids}
    assert all(v.status == "DONE" or (v.status == "FAILED" and v.error) for v in views.values()), views
    assert views[lost].status == "DONE" or "Ray lost" in views[lost].error
    ran = nodes_that_ran(dispatcher_log())
    assert head.node_id in ran.values() and worker.node_id in ran.values()
    if views[lost].status == "DONE":
        assert ran[lost] == head.node_id  # retried by Ray on the node that is left
    done = [v for v in views.values() if v.status == "DONE"]
    finished = db_runs.list_runs(env_store, status="FINISHED")
    assert sorted(r.id for r in finished) == sorted(v.run_id for v in done)  # each DONE job's run, once
    assert not db_runs.list_runs(
        env_store, status="RUNNING"
    )  # a lost attempt's run is FAILED, by the retry itself
    client = mlflow_client(workbench_env["MLFLOW_TRACKING_URI"])
    statuses = [
        r.info.status for r in client.search_runs([e.experiment_id for e in client.search_experiments()])
    ]
    assert statuses.count("FINISHED") == len(done) and "RUNNING" not in statuses
    wait_for(lambda: not RayExecutor().is_running(), 60, "the dispatcher to exit with the queue empty")
    assert cluster.stop() == []
