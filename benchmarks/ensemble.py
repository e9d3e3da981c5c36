"""Ensembles of saved runs against their best member, per dataset and rule (issue: seed 000's fusion over runs).

Reads a store that benchmark runs were recorded in (default: the leaderboard's `--store bench` store,
benchmarks/results/store/), takes the latest finished run of each method on every dataset there (ensembles left
out) and combines their saved scores by each rule of engine/ensemble.py. Nothing is trained or recorded; the
members are chosen without looking at test labels (all of them, or --methods).

    python -m engine bench leaderboard --store bench ...     # first: runs with saved predictions
    python benchmarks/ensemble.py [--methods padim,patchcore,cutpaste] [--store DIR] [--out benchmarks/results]
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", type=Path, default=PROJECT / "benchmarks" / "results" / "store")
    parser.add_argument("--methods", default="", help="comma-separated members (default: every method there)")
    parser.add_argument("--out", type=Path, default=PROJECT / "benchmarks" / "results")
    parser.add_argument("--name", default="ensemble", help="file stem of the results (NAME.csv, NAME.md)")
    args = parser.parse_args(argv)
    if not (args.store / "workbench.db").exists():
        raise SystemExit(f"no store at {args.store}: run a suite with --store bench first")
    os.environ["WORKBENCH_DB_URL"] = f"sqlite:///{args.store / 'workbench.db'}"
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{args.store / 'mlflow.db'}"
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

    from db import store
    from engine import ensemble

    started = time.perf_counter()
    wanted = [m for m in args.methods.split(",") if m]
    datasets = sorted({r.dataset_name for r in store.list_runs(status="FINISHED")})
    rows = []
    for dataset in datasets:
        ids = ensemble.latest_members(dataset)
        members = [ensemble.load_member(i) for i in ids]
        members = [m for m in members if not wanted or m.label.split(" #")[0] in wanted]
        if len(members) < 2:
            continue
        for rule in ensemble.RULES:
            combined = ensemble.combine(members, rule)
            auroc = combined.metrics["member_image_auroc"]
            best_label = max(auroc, key=lambda k: auroc[k] if auroc[k] is not None else -1.0)
            rows.append(
                {
                    "dataset": dataset,
                    "rule": rule,
                    "members": " ".join(m.label for m in members),
                    "best_member": best_label,
                    "best_member_auroc": auroc[best_label],
                    "image_auroc": combined.metrics.get("image_auroc"),
                    "gain": combined.metrics.get("gain_over_best_member"),
                    "pixel_auroc": combined.metrics.get("pixel_auroc"),
                    "n_test": combined.metrics.get("n_test"),
                }
            )
            print(
                f"{dataset} {rule}: {combined.metrics.get('image_auroc'):.3f} vs best member {best_label} "
                f"{auroc[best_label]:.3f}",
                flush=True,
            )
    if not rows:
        raise SystemExit(f"no dataset in {args.store} has two finished runs to combine")
    args.out.mkdir(parents=True, exist_ok=True)
    with (args.out / f"{args.name}.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)

    def fmt(v: float | None, spec: str = ".3f") -> str:
        return "-" if v is None else format(v, spec)

    lines = [
        f"### ensemble (saved runs combined, members: {args.methods or 'every method in the store'})",
        "",
        "| dataset | rule | best member | its AUROC | ensemble AUROC | gain | pixel AUROC | n |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['dataset']} | {r['rule']} | {r['best_member']} | {fmt(r['best_member_auroc'])} | "
            f"{fmt(r['image_auroc'])} | {fmt(r['gain'], '+.3f')} | {fmt(r['pixel_auroc'])} | {r['n_test']} |"
        )
    wins = {
        rule: sum(1 for r in rows if r["rule"] == rule and r["gain"] is not None and r["gain"] >= 0.01)
        for rule in ensemble.RULES
    }
    lines += [
        "",
        "Datasets where the ensemble beats its best member by >= 0.01: "
        + ", ".join(f"{rule} {n}" for rule, n in wins.items())
        + f" (of {len({r['dataset'] for r in rows})}). Members: "
        + "; ".join(sorted({f"{r['dataset']}: {r['members']}" for r in rows})),
        "",
        f"Runtime: {time.perf_counter() - started:.1f} s (no training; saved predictions only).",
    ]
    (args.out / f"{args.name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
