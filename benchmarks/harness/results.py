"""What the benchmark suites write and read: one `Row` per run, their CSV files and the Markdown tables made
from them (per-variant summaries, the leaderboard, the comparison with peer libraries)."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np

from benchmarks.harness.scores import paired_difference, scores_path
from engine.bootstrap import span
from engine.csv_cells import csv_cell


@dataclass
class Row:
    suite: str
    dataset: str
    impl: str
    method: str
    variant: str
    seed: int
    image_size: int | None
    preset: str
    image_auroc: float | None
    pixel_auroc: float | None
    fit_seconds: float | None
    predict_seconds: float | None
    images_per_second: float | None
    peak_memory_mb: float | None
    device: str
    notes: str
    detection_rate: float | None = None  # accuracy at the training-score threshold (engine.metrics)
    image_auroc_low: float | None = None  # 95% bootstrap interval of image_auroc (engine.bootstrap)
    image_auroc_high: float | None = None


COLUMNS = [f.name for f in fields(Row)]


def write_rows(path: Path, rows: Sequence[Row]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        for row in rows:
            writer.writerow({key: csv_cell(value) for key, value in asdict(row).items()})


def read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def row_from_csv(record: dict[str, str]) -> Row:
    """A `Row` back from its CSV strings (empty cells are None)."""
    values: dict[str, object] = {}
    for f in fields(Row):
        raw = record.get(f.name, "")
        if f.type in ("int", "int | None"):
            values[f.name] = int(raw) if raw else None
        elif f.type == "float | None":
            values[f.name] = _f(raw)
        else:
            values[f.name] = raw
    return Row(**values)


def _f(value: str | float | None) -> float | None:
    if value is None or value == "":
        return None
    return float(value)


def mean_std(values: Iterable[float | None]) -> str:
    kept = [v for v in values if v is not None]
    if not kept:
        return "-"
    return f"{np.mean(kept):.3f} ± {np.std(kept):.3f}" if len(kept) > 1 else f"{kept[0]:.3f}"


def summary_table(
    rows: Sequence[Row], by: str, paper: dict[str, float] | None = None, metric: str = "image_auroc"
) -> str:
    """Markdown: one line per variant, one column per `by` value, then the mean (± std over the rest) of
    `metric` (a Row field: image_auroc or detection_rate)."""
    variants = list(dict.fromkeys(r.variant for r in rows))
    groups = list(dict.fromkeys(getattr(r, by) for r in rows))
    head = ["variant", *map(str, groups), "mean", "fit s (mean)"] + (["paper"] if paper else [])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for v in variants:
        cells = [v]
        for g in groups:
            cells.append(mean_std(getattr(r, metric) for r in rows if r.variant == v and getattr(r, by) == g))
        per_group = [
            np.mean(vals)
            if (
                vals := [
                    getattr(r, metric)
                    for r in rows
                    if r.variant == v and getattr(r, by) == g and getattr(r, metric) is not None
                ]
            )
            else None
            for g in groups
        ]
        cells.append(mean_std(per_group))
        fits = [r.fit_seconds for r in rows if r.variant == v and r.fit_seconds is not None]
        cells.append(f"{np.mean(fits):.1f}" if fits else "-")
        if paper:
            cells.append(f"{paper[v]:.3f}" if v in paper else "")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def merge_earlier(rows: list[Row], earlier: Path) -> list[Row]:
    """`earlier`'s rows with those re-run now replaced where they stood, then the new ones (--append)."""
    if not earlier.is_file():
        return rows
    redone = {(r.dataset, r.variant, r.seed): r for r in rows}
    merged = [redone.pop((r.dataset, r.variant, r.seed), r) for r in map(row_from_csv, read_rows(earlier))]
    return merged + list(redone.values())


def save(suite: str, rows: list[Row], markdown: str, out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    write_rows(out_dir / f"{suite}.csv", rows)
    (out_dir / f"{suite}.md").write_text(markdown + "\n")
    print(markdown)
    print(f"wrote {out_dir / f'{suite}.csv'} and {out_dir / f'{suite}.md'}")


def interval_cell(row: Row) -> str:
    """'0.74-0.90' for a row's 95% image AUROC interval; '' for rows recorded before intervals were."""
    if row.image_auroc_low is None or row.image_auroc_high is None:
        return ""
    return f"{row.image_auroc_low:.2f}-{row.image_auroc_high:.2f}"


def leaderboard_table(rows: Sequence[Row]) -> str:
    head = [
        "dataset",
        "method",
        "image AUROC",
        "95% interval",
        "pixel AUROC",
        "fit s",
        "images/s",
        "peak MiB",
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:

        def fmt(v: float | None, spec: str = ".3f") -> str:
            return "-" if v is None else format(v, spec)

        lines.append(
            f"| {r.dataset} | {r.variant} | {fmt(r.image_auroc)} | {interval_cell(r)} | {fmt(r.pixel_auroc)} | "
            f"{fmt(r.fit_seconds, '.1f')} | {fmt(r.images_per_second, '.1f')} | {fmt(r.peak_memory_mb, '.0f')} |"
        )
    return "\n".join(lines)


PEER_PAIRS = {  # peer method -> our method implementing the same idea
    "padim": "padim",
    "patchcore": "patchcore",
    "ganomaly": "vaegan",
    "autoencoder": "autoencoder",
    "vae": "vae",
    "deep_svdd": "deep_svdd",
    "anogan": "anogan",
}


def best_of(rows: Sequence[dict[str, str]], dataset: str) -> tuple[str, float | None]:
    """(method, image AUROC) of the best row of `dataset`, or ("-", None)."""
    scored = [(r["method"], _f(r["image_auroc"])) for r in rows if r["dataset"] == dataset]
    scored = [s for s in scored if s[1] is not None]
    return max(scored, key=lambda s: s[1]) if scored else ("-", None)


def compare_with_peers(
    ours: Sequence[dict[str, str]], peers: Sequence[dict[str, str]], scores_dir: Path | None = None
) -> str:
    """Markdown: per (dataset, peer) the AUROC difference and fit-time ratio against our same idea, and the
    difference's paired 95% interval where `scores_dir` holds both sides' per-image scores."""
    index = {(r["dataset"], r["method"]): r for r in ours if r["variant"] == r["method"]}
    head = ["dataset", "peer", "ours", "peer AUROC", "our AUROC", "Δ AUROC", "Δ 95% interval", "fit-time ratio",
            "targets met"]  # fmt: skip
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for p in peers:
        mine = index.get((p["dataset"], PEER_PAIRS.get(p["method"], "")))
        pa, ma = _f(p["image_auroc"]), _f(mine["image_auroc"]) if mine else None
        pf, mf = _f(p["fit_seconds"]), _f(mine["fit_seconds"]) if mine else None
        delta = "-" if pa is None or ma is None else f"{ma - pa:+.3f}"
        ratio = "-" if not pf or mf is None else f"{mf / pf:.2f}x"
        met = (
            "-"
            if pa is None or ma is None or not pf or mf is None
            else ("yes" if ma >= pa and mf <= 1.5 * pf else "no")
        )
        paired = None
        if scores_dir is not None and mine is not None:
            paired = paired_difference(
                scores_path(scores_dir, p["dataset"], "ours", mine["method"]),
                scores_path(scores_dir, p["dataset"], p["impl"], p["method"]),
            )
        interval = "" if paired is None else span(paired.low, paired.high, signed=True)
        lines.append(
            f"| {p['dataset']} | {p['impl']} {p['method']} | {mine['method'] if mine else '-'} | "
            f"{'-' if pa is None else f'{pa:.3f}'} | {'-' if ma is None else f'{ma:.3f}'} | {delta} | {interval} | "
            f"{ratio} | {met} |"
        )
    lines += [
        "",
        "Best method per dataset:",
        "",
        "| dataset | our best | AUROC | peer best | AUROC | ours ≥ peers |",
        "|---|---|---|---|---|---|",
    ]
    for dataset in sorted({r["dataset"] for r in peers}):
        om, oa = best_of(ours, dataset)
        pm, pa = best_of(peers, dataset)
        ok = "-" if oa is None or pa is None else ("yes" if oa >= pa else "no")
        lines.append(
            f"| {dataset} | {om} | {'-' if oa is None else f'{oa:.3f}'} | {pm} | "
            f"{'-' if pa is None else f'{pa:.3f}'} | {ok} |"
        )
    return "\n".join(lines)
