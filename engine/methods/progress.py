"""Progress while a method fits: `EpochLog` after each epoch (`OnEpoch`), and `CountedImages`, a loader that reports
the images each pass hands out (`OnBatch`)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class EpochLog:
    """Progress report passed to `on_epoch` after every training epoch (1-based)."""

    epoch: int
    epochs: int
    losses: dict[str, float]


OnEpoch = Callable[[EpochLog], None]
OnBatch = Callable[[int, int], None]  # (images done, images in the pass) after each batch a pass of fit reads


class CountedImages:
    """A loader of whole images that calls `on_batch(done, total)` after each batch a pass over it hands out, so
    a long pass (e.g. feature extraction) shows progress; everything else is the loader's."""

    def __init__(self, loader: Iterable, on_batch: OnBatch) -> None:
        self.loader, self.on_batch = loader, on_batch
        try:  # a DataLoader's sampler says how many images one pass reads (with repeats)
            self.total = len(getattr(loader, "sampler", None) or loader.dataset)  # type: ignore[attr-defined]
        except (AttributeError, TypeError):
            self.total = 0  # unknown: nothing reported

    def __getattr__(self, name: str) -> Any:  # e.g. `dataset`, `batch_size`
        if name == "loader":
            raise AttributeError(name)
        return getattr(self.loader, name)

    def __len__(self) -> int:
        return len(self.loader)  # type: ignore[arg-type]

    def __iter__(self):
        done = 0
        for batch in self.loader:
            yield batch
            done += len(batch)
            if self.total:
                self.on_batch(min(done, self.total), self.total)
