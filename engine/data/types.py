"""Typed containers for datasets: file records before loading, tensors after."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from torch import Tensor

Split = Literal["train", "test"]
NORMAL = "good"  # defect type of normal images, as in MVTec AD


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


@dataclass
class ImageSplit:
    """Loaded images of one split as tensors."""

    images: Tensor  # (N, C, H, W) float32 in [0, 1]
    labels: Tensor  # (N,) int64, 0 normal / 1 anomalous
    masks: Tensor | None  # (N, H, W) float32 in {0, 1}; None where the dataset has no masks
    defect_types: list[str]
    names: list[str]

    def __len__(self) -> int:
        return int(self.images.shape[0])


@dataclass
class LoadedDataset:
    """A dataset ready for training and evaluation at one image size."""

    name: str
    channels: int
    image_size: int
    train: ImageSplit
    test: ImageSplit

    @property
    def has_masks(self) -> bool:
        return self.test.masks is not None
