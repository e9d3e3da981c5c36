"""Typed containers for datasets: file records before loading, and splits whose pixels are read on demand."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
from torch import Tensor

Split = Literal["train", "test"]
NORMAL = "good"  # defect type of normal images, as in MVTec AD
NATIVE = 0  # image_size meaning "every image at its own size and aspect ratio"


class DatasetError(ValueError):
    """Bad dataset input: names the file or field and what was expected."""


@dataclass(frozen=True)
class ImageItem:
    """One image file of a dataset before loading."""

    path: Path
    split: Split
    label: int  # 0 normal, 1 anomalous
    defect_type: str  # NORMAL for normal images
    mask_path: Path | None = None
    name: str = ""  # stable id within the dataset, e.g. "test/crack/003.png"


class ImageSource:
    """Where a split's pixels come from: `image(i)` (C, H, W) float32 in [0, 1] and `mask(i)` (H, W) in {0, 1}
    (None where the split has no masks), each read when asked; `size(i)` is (H, W) without reading pixels."""

    with_masks: bool = False

    def __len__(self) -> int:
        raise NotImplementedError

    def size(self, index: int) -> tuple[int, int]:
        raise NotImplementedError

    def image(self, index: int) -> Tensor:
        raise NotImplementedError

    def mask(self, index: int) -> Tensor | None:
        raise NotImplementedError

    def own_mask(self, index: int) -> Tensor | None:
        """The mask at its file's own (H, W), for pixel metrics at the resolution it was drawn at."""
        return self.mask(index)


class TensorSource(ImageSource):
    """Pixels already in memory (the built-in MNIST sets, a few MB): (N, C, H, W) images, (N, H, W) masks."""

    def __init__(self, images: Tensor, masks: Tensor | None = None) -> None:
        self.images, self.masks, self.with_masks = images, masks, masks is not None

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def size(self, index: int) -> tuple[int, int]:
        return int(self.images.shape[-2]), int(self.images.shape[-1])

    def image(self, index: int) -> Tensor:
        return self.images[index]

    def mask(self, index: int) -> Tensor | None:
        return None if self.masks is None else self.masks[index]


class SubsetSource(ImageSource):
    """Some images of another source, by index."""

    def __init__(self, source: ImageSource, indices: Sequence[int]) -> None:
        self.source, self.indices, self.with_masks = source, [int(i) for i in indices], source.with_masks

    def __len__(self) -> int:
        return len(self.indices)

    def size(self, index: int) -> tuple[int, int]:
        return self.source.size(self.indices[index])

    def image(self, index: int) -> Tensor:
        return self.source.image(self.indices[index])

    def mask(self, index: int) -> Tensor | None:
        return self.source.mask(self.indices[index])

    def own_mask(self, index: int) -> Tensor | None:
        return self.source.own_mask(self.indices[index])


class ImageSplit:
    """One split: labels, defect types, names and image sizes known up front; pixels read from `source` when a
    batch asks for them (`image(i)`, `mask(i)`, or the loaders of engine.data.loaders), so memory holds a batch,
    not the split. `images` and `masks` decode the whole split at once, for small sets and callers that want it."""

    def __init__(
        self, source: ImageSource, labels: Tensor, defect_types: list[str], names: list[str]
    ) -> None:
        if not len(source) == len(labels) == len(defect_types) == len(names):
            raise ValueError("an ImageSplit needs as many labels, defect types and names as images")
        self.source, self.labels, self.defect_types, self.names = source, labels, defect_types, names

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, index: int) -> Tensor:
        """The image at `index`, (C, H, W)."""
        return self.image(index)

    @property
    def has_masks(self) -> bool:
        return self.source.with_masks

    @property
    def sizes(self) -> list[tuple[int, int]]:
        """(H, W) of every image as the methods get it."""
        return [self.source.size(i) for i in range(len(self))]

    def image(self, index: int) -> Tensor:
        return self.source.image(index)

    def mask(self, index: int) -> Tensor | None:
        return self.source.mask(index)

    def own_mask(self, index: int) -> Tensor | None:
        """The mask at its file's own (H, W), whatever size the split's images are loaded at."""
        return self.source.own_mask(index)

    def subset(self, indices: Sequence[int]) -> ImageSplit:
        """The images at `indices`, in that order."""
        indices = [int(i) for i in indices]
        return ImageSplit(
            SubsetSource(self.source, indices),
            self.labels[indices] if indices else self.labels[:0],
            [self.defect_types[i] for i in indices],
            [self.names[i] for i in indices],
        )

    @property
    def images(self) -> Tensor:
        """Every image decoded into one (N, C, H, W) tensor; raises when the images differ in size."""
        if isinstance(self.source, TensorSource):
            return self.source.images
        return _stacked([self.image(i) for i in range(len(self))], "images")

    @property
    def masks(self) -> Tensor | None:
        """Every mask as one (N, H, W) tensor (zeros where an image has none), or None without masks."""
        if not self.has_masks:
            return None
        if isinstance(self.source, TensorSource):
            return self.source.masks
        return _stacked([self.mask(i) for i in range(len(self))], "masks")


def _stacked(tensors: list[Tensor], what: str) -> Tensor:
    shapes = {tuple(t.shape) for t in tensors}
    if len(shapes) > 1:
        raise ValueError(f"the split's {what} differ in size ({len(shapes)} sizes); read them one by one")
    return torch.stack(tensors) if tensors else torch.zeros(0)


@dataclass
class LoadedDataset:
    """A dataset ready for training and evaluation: at one square image size, or (image_size NATIVE) with
    every image at its own size."""

    name: str
    channels: int
    image_size: int  # px a side, or NATIVE
    train: ImageSplit
    test: ImageSplit

    @property
    def has_masks(self) -> bool:
        return self.test.has_masks

    @property
    def native(self) -> bool:
        return self.image_size == NATIVE
