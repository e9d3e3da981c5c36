"""One (dataset, peer method) run as a `Row` (`run_one`): the library's runner under our peak-memory probe, its
per-image scores saved for the paired comparison, and any failure a row with the error in its notes."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path

import torch

from benchmarks.harness.results import Row
from benchmarks.harness.scores import scores_path, write_scores
from benchmarks.peer_libs.anomalib_peer import run_anomalib
from benchmarks.peer_libs.folders import FolderData
from benchmarks.peer_libs.pyod_peer import run_pyod
from benchmarks.peer_libs.settings import ANOMALIB_METHODS, PYOD_METHODS, Outcome, Settings
from engine.resources import PeakMemory

RUNNERS: dict[str, Callable[..., Outcome]] = {
    **{m: lambda *a, m=m: run_anomalib(m, *a) for m in ANOMALIB_METHODS},
    **{m: lambda *a, m=m: run_pyod(m, *a) for m in PYOD_METHODS},
}


def impl_of(method: str) -> str:
    return "anomalib" if method in ANOMALIB_METHODS else "pyod"


def library_versions() -> dict[str, str | None]:
    from importlib import metadata

    out: dict[str, str | None] = {}
    for package in ("anomalib", "pyod", "torch"):
        try:
            out[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            out[package] = None
    return out


def device_name(prefer: str) -> str:
    if prefer not in ("auto", "cpu", "cuda"):
        raise SystemExit(f"error: unknown device {prefer!r}; choose from ['auto', 'cpu', 'cuda']")
    if prefer != "cpu" and torch.cuda.is_available():
        return f"cuda:{torch.cuda.get_device_name(0)}"
    if prefer == "cuda":
        raise SystemExit("error: device 'cuda' was asked for but torch sees no CUDA device")
    return "cpu"


def explain(exc: BaseException) -> str:
    """The error for the notes column, with a plain hint when a library tried to reach the network."""
    text = f"{type(exc).__name__}: {exc}".replace("\n", " ")
    if any(
        k in text.lower() for k in ("offline", "hf_hub", "huggingface", "urlopen", "download", "connection")
    ):
        text = (
            "tried to download weights, which this offline suite never does (pre_trained must stay False): "
            + text
        )
    return f"failed: {text}"[:300]


def run_one(
    method: str,
    data: FolderData,
    image_size: int,
    settings: Settings,
    seed: int,
    device: str,
    scores_dir: Path | None = None,
) -> Row:
    """One (dataset, peer) pair; any failure becomes a row with empty metrics and the error in notes. With
    `scores_dir`, the per-image test scores go there too (benchmarks/harness/scores.py)."""
    versions = library_versions()
    impl = impl_of(method)
    tag = f"{impl} {versions.get(impl) or '?'}"
    print(f"[peers] {data.name} / {impl} {method} ...", flush=True)
    try:
        with PeakMemory() as memory, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = RUNNERS[method](data, image_size, settings, seed, device)
    except Exception as exc:  # recorded in the CSV, the suite goes on
        print(f"[peers]   {explain(exc)}", flush=True)
        size = settings.flat_size if impl == "pyod" else image_size
        return Row("peers", data.name, impl, method, method, seed, size, settings.preset,
                   None, None, None, None, None, None, device, f"{tag}; {explain(exc)}")  # fmt: skip
    if scores_dir is not None and out.scores is not None:
        write_scores(scores_path(scores_dir, data.name, impl, method), out.names, out.labels, out.scores)
    row = Row(
        "peers",
        data.name,
        impl,
        method,
        method,
        seed,
        out.image_size,
        settings.preset,
        round(out.image_auroc, 4) if out.image_auroc is not None else None,
        round(out.pixel_auroc, 4) if out.pixel_auroc is not None else None,
        round(out.fit_seconds, 2),
        round(out.predict_seconds, 2),
        round(out.n_test / max(out.predict_seconds, 1e-9), 1),
        round(memory.peak_mb),
        device,
        "; ".join([tag, *data.notes, *out.notes])[:300],
    )
    print(
        f"[peers]   image AUROC {row.image_auroc}, pixel AUROC {row.pixel_auroc}, fit {row.fit_seconds}s, "
        f"predict {row.predict_seconds}s",
        flush=True,
    )
    return row
