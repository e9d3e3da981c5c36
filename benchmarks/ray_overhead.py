"""What a job costs through Ray beyond its own work: a smoke sweep (every method x the PIPED papers x two
seeds by default) run as Ray tasks by the dispatcher (`python -m engine worker --executor ray`) on a one-node
Ray cluster started for it on this machine (ray.cluster_utils.Cluster), in a throwaway workbench.

    python benchmarks/ray_overhead.py [--methods a,b] [--seeds 0,1] [--num-cpus 2] [--out benchmarks/results]

A job's own time is what its task spent claiming, loading, fitting, predicting and recording it (the job
row's started_at to ended_at). With c tasks at once, overhead per job = (c x sweep wall time - sum of the
jobs' own times) / jobs: the dispatcher's start, worker processes and their torch import, submission and
claiming (the cluster is started before the clock starts, as a team server's is)."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_ROOT))
PIPED = ["pa_bdp01_tl", "pa_brg01_rl", "pa_flr01_tl"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", default="", help="comma-separated method keys (default: all)")
    parser.add_argument("--seeds", default="0,1")
    parser.add_argument("--num-cpus", type=int, default=2)
    parser.add_argument("--shared", default=str(PROJECT_ROOT.parent / "shared" / "datasets"))
    parser.add_argument("--out", default=str(PROJECT_ROOT / "benchmarks" / "results"))
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="ray-overhead-"))
    os.environ.update(
        WORKBENCH_DB_URL=f"sqlite:///{work / 'store.db'}",
        MLFLOW_TRACKING_URI=f"sqlite:///{work / 'mlruns' / 'mlflow.db'}",
        WORKBENCH_DATA_DIR=str(work / "data"),
        MLFLOW_DISABLE_TELEMETRY="true",
    )
    (work / "ray").mkdir()
    os.environ["RAY_TMPDIR"] = str(work)  # Ray's files and address file stay in the throwaway workbench
    from ray.cluster_utils import Cluster

    from db import runs as db_runs
    from db.store import Store
    from engine import jobs, sweep
    from engine.executors.ray_dispatch import RayExecutor
    from engine.methods import METHODS

    methods = [m for m in args.methods.split(",") if m] or list(METHODS)
    datasets = [str(Path(args.shared) / "piped" / p) for p in PIPED]
    seeds = [int(s) for s in args.seeds.split(",")]
    configs = sweep.grid(datasets, methods, ["smoke"], seeds)
    ids = sweep.enqueue_sweep(configs)
    cluster = Cluster(
        initialize_head=True,
        head_node_args={"num_cpus": args.num_cpus, "temp_dir": str(work), "include_dashboard": False},
    )
    os.environ["RAY_ADDRESS"] = cluster.address
    began = time.perf_counter()
    try:
        final = sweep.wait(ids, RayExecutor(), poll_seconds=0.5)
    finally:
        cluster.shutdown()
    wall = time.perf_counter() - began

    views = [jobs.get_job(i) for i in ids]
    own = sum((v.ended_at - v.started_at).total_seconds() for v in views if v.started_at and v.ended_at)
    runs = db_runs.list_runs(Store.at(), status="FINISHED")
    once = len({(r.dataset_name, r.method, r.seed) for r in runs}) == len(runs)
    overhead = (args.num_cpus * wall - own) / len(ids)
    failed = [f"#{v.id} {v.method}: {(v.error or '').splitlines()[:1]}" for v in views if v.status != "DONE"]
    lines = [
        "# Ray overhead",
        "",
        f"Command: `python benchmarks/ray_overhead.py --seeds {args.seeds} --num-cpus {args.num_cpus}"
        + (f" --methods {args.methods}" if args.methods else "")
        + "` (smoke preset, a one-node Ray cluster on this machine, CPU).",
        "",
        "| jobs | done | runs recorded once | tasks at once | sweep wall s | jobs' own s | overhead per job s |",
        "|---|---|---|---|---|---|---|",
        f"| {len(ids)} | {sum(s == 'DONE' for s in final.values())} | {'yes' if once else 'NO'} | "
        f"{args.num_cpus} | {wall:.1f} | {own:.1f} | {overhead:.2f} |",
    ]
    if failed:
        lines += ["", "Failed:", *(f"- {f}" for f in failed)]
    text = "\n".join(lines) + "\n"
    print(text)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / "ray-overhead.md").write_text(text)
    return 0 if not failed and once else 1


if __name__ == "__main__":
    raise SystemExit(main())
