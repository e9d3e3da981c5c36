"""Ensembles of saved runs against their best member, per dataset and rule (issue: seed 000's fusion over runs).

Reads a store that benchmark runs were recorded in (default: the leaderboard's `--store bench` store,
benchmarks/results/store/), takes the latest finished run of each method (with --by settings: of each distinct
setting, so tuned variants of one method are separate members; with --tuned: of each of
benchmarks/harness/variants.py's TUNED_VARIANTS) on every dataset there (ensembles left out) and combines their
saved scores by each rule of engine/ensemble.py. Nothing is trained or recorded; the members are chosen without
looking at test labels (all of them, or --methods).

    python -m benchmarks leaderboard --store bench ...     # first: runs with saved predictions
    python -m benchmarks leaderboard --tuned --append --store bench   # for --tuned: the tuned variants
    python benchmarks/ensemble.py [--methods padim,patchcore,cutpaste] [--by method|settings] [--tuned] [--store DIR]
        [--out benchmarks/results] [--name ensemble]
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import time
from dataclasses import asdict
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT))


def preset_diff(method: str, preset: str, params: dict) -> dict:
    """The fields of `params` that differ from `method`'s `preset` (weights "auto" resolves to "imagenet")."""
    from engine.methods import get_method
    from engine.methods.params import make_params

    def resolved(values: dict) -> dict:
        return {**values, "weights": "imagenet"} if values.get("weights") == "auto" else values

    defaults = resolved(asdict(make_params(get_method(method), preset)))
    return {k: v for k, v in resolved(params).items() if defaults.get(k, v) != v}


def run_diff(run) -> dict:
    return preset_diff(run.method, run.preset, (run.params or {}))


def describe(run) -> str:
    """ "#12 padim 128 px ridge=1.0": a member run and what it set beyond its method's preset."""
    changed = " ".join(f"{k}={v}" for k, v in run_diff(run).items()) or "(preset)"
    return f"#{run.id} {run.method} {run.image_size} px {changed}"


def tuned_members(dataset: str) -> list[int]:
    """Ids of the latest finished run on `dataset` of each of benchmarks/harness/variants.py's TUNED_VARIANTS (same
    method, same settings beyond the cpu preset, same image size), whatever else the store holds."""
    from benchmarks.harness.variants import TUNED_VARIANTS
    from db import runs as db_runs
    from db.store import Store
    from engine import ensemble_runs
    from engine.data import DEFAULT_IMAGE_SIZE
    from engine.methods import get_method
    from engine.methods.params import make_params

    wanted = [
        (
            v.method,
            preset_diff(v.method, "cpu", asdict(make_params(get_method(v.method), "cpu", dict(v.overrides)))),
            v.image_size or DEFAULT_IMAGE_SIZE,
        )
        for v in TUNED_VARIANTS
    ]
    runs = [db_runs.get_run(Store.at(), i) for i in ensemble_runs.latest_members(dataset, by="settings")]
    return [r.id for r in runs if r.preset == "cpu" and (r.method, run_diff(r), r.image_size) in wanted]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", type=Path, default=PROJECT / "benchmarks" / "results" / "store")
    parser.add_argument("--methods", default="", help="comma-separated members (default: every method there)")
    parser.add_argument(
        "--by",
        choices=("method", "settings"),
        default="method",
        help="members: the latest run of each method, or of each distinct setting (tuned variants of one method)",
    )
    parser.add_argument(
        "--tuned",
        action="store_true",
        help="members: the latest run of each of benchmarks/harness/variants.py's TUNED_VARIANTS (leaderboard --tuned --store bench)",
    )
    parser.add_argument("--out", type=Path, default=PROJECT / "benchmarks" / "results")
    parser.add_argument("--name", default="ensemble", help="file stem of the results (NAME.csv, NAME.md)")
    args = parser.parse_args(argv)
    if not (args.store / "workbench.db").exists():
        raise SystemExit(f"no store at {args.store}: run a suite with --store bench first")
    os.environ["WORKBENCH_DB_URL"] = f"sqlite:///{args.store / 'workbench.db'}"
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{args.store / 'mlflow.db'}"
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

    from db import runs as db_runs
    from db.store import Store
    from engine import ensemble_rules, ensemble_runs
    from engine.bootstrap import span
    from engine.csv_cells import csv_cell
    from engine.ensemble import combine

    started = time.perf_counter()
    wanted = [m for m in args.methods.split(",") if m]
    datasets = sorted({r.dataset_name for r in db_runs.list_runs(Store.at(), status="FINISHED")})
    rows, member_ids = [], set()
    for dataset in datasets:
        ids = tuned_members(dataset) if args.tuned else ensemble_runs.latest_members(dataset, by=args.by)
        members = [ensemble_runs.load_member(i) for i in ids]
        members = [m for m in members if not wanted or m.label.split(" #")[0] in wanted]
        if len(members) < 2:
            continue
        member_ids.update(m.run_id for m in members)
        for rule in ensemble_rules.RULES:
            combined = combine(members, rule)
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
                    "gain_low": combined.metrics.get("gain_over_best_member_low"),
                    "gain_high": combined.metrics.get("gain_over_best_member_high"),
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
        writer.writerows({key: csv_cell(value) for key, value in row.items()} for row in rows)

    def fmt(v: float | None, spec: str = ".3f") -> str:
        return "-" if v is None else format(v, spec)

    unit = "tuned variant" if args.tuned else "setting" if args.by == "settings" else "method"
    lines = [
        f"### ensemble (saved runs combined, members: {args.methods or 'every ' + unit + ' in the store'})",
        "",
        "| dataset | rule | best member | its AUROC | ensemble AUROC | gain | gain 95% interval | pixel AUROC | n |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        interval = "-" if r["gain_low"] is None else span(r["gain_low"], r["gain_high"], signed=True)
        lines.append(
            f"| {r['dataset']} | {r['rule']} | {r['best_member']} | {fmt(r['best_member_auroc'])} | "
            f"{fmt(r['image_auroc'])} | {fmt(r['gain'], '+.3f')} | {interval} | {fmt(r['pixel_auroc'])} | {r['n_test']} |"
        )
    wins = {
        rule: sum(1 for r in rows if r["rule"] == rule and r["gain"] is not None and r["gain"] >= 0.01)
        for rule in ensemble_rules.RULES
    }
    sure = {
        rule: sum(1 for r in rows if r["rule"] == rule and r["gain_low"] is not None and r["gain_low"] > 0)
        for rule in ensemble_rules.RULES
    }
    lines += [
        "",
        "Datasets where the ensemble beats its best member by >= 0.01: "
        + ", ".join(f"{rule} {n}" for rule, n in wins.items())
        + "; where its gain's 95% interval excludes 0 (a gain this test set can tell from chance): "
        + ", ".join(f"{rule} {n}" for rule, n in sure.items())
        + f" (of {len({r['dataset'] for r in rows})}). Members: "
        + "; ".join(sorted({f"{r['dataset']}: {r['members']}" for r in rows})),
        *(
            [
                "",
                "Member settings: "
                + "; ".join(describe(db_runs.get_run(Store.at(), i)) for i in sorted(member_ids)),
            ]
            if args.by == "settings" or args.tuned
            else []
        ),
        "",
        f"Runtime: {time.perf_counter() - started:.1f} s (no training; saved predictions only).",
    ]
    (args.out / f"{args.name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
