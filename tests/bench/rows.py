"""A benchmark results row with plausible figures, for the tests of tests/bench/."""

from __future__ import annotations

from benchmarks.harness.results import Row


def make_row(dataset: str, variant: str, seed: int, auroc: float, **fields) -> Row:
    """A results row with plausible figures; `fields` overrides any other column."""
    values = dict(
        suite="noisy-mnist",
        dataset=dataset,
        impl="ours",
        method="vae",
        variant=variant,
        seed=seed,
        image_size=64,
        preset="cpu",
        image_auroc=auroc,
        pixel_auroc=None,
        fit_seconds=1.0,
        predict_seconds=0.1,
        images_per_second=9.0,
        peak_memory_mb=900.0,
        device="cpu",
        notes="",
    )
    return Row(**{**values, **fields})
