"""Folders in MVTec AD layout (`train/good`, `test/<type>`, `ground_truth/<type>/<stem>_mask.png`) and flat
folders of normal images: scanning into ImageItems, and splits that read their files on demand."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch
from PIL import Image
from torch import Tensor

from engine.data.images import IMAGE_SUFFIXES, header_size, image_to_tensor, is_image_file, read_image
from engine.data.types import NATIVE, NORMAL, DatasetError, ImageItem, ImageSource, ImageSplit

GRAY_MODES = ("1", "L", "I", "F", "I;16", "I;16L", "I;16B", "I;16N")
LAYOUT = "<root>/train/good/*.png, <root>/test/<type>/*.png, <root>/ground_truth/<type>/<stem>_mask.png"


def image_files(folder: Path) -> list[Path]:
    """Image files directly inside `folder`, sorted by name; hidden files and other suffixes are ignored."""
    if not folder.is_dir():
        return []
    return sorted((p for p in folder.iterdir() if is_image_file(p)), key=lambda p: p.name)


def is_mvtec_folder(root: Path) -> bool:
    """True when `root` has a `train/good` folder."""
    return (Path(root) / "train" / NORMAL).is_dir()


def scan_mvtec(root: Path) -> list[ImageItem]:
    """Items of a category folder in MVTec AD layout: train/good, then test/good and test/<type> by name."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"dataset folder {root} does not exist or is not a folder")
    train_dir = root / "train" / NORMAL
    if not train_dir.is_dir():
        raise DatasetError(f"{root} has no train/good folder; expected the MVTec AD layout {LAYOUT}")
    items = [
        ImageItem(path, "train", 0, NORMAL, None, f"train/{NORMAL}/{path.name}")
        for path in image_files(train_dir)
    ]
    if not items:
        raise DatasetError(f"no images in {train_dir}; expected files ending in {', '.join(IMAGE_SUFFIXES)}")
    test_dir = root / "test"
    type_dirs = (
        sorted((d for d in test_dir.iterdir() if d.is_dir()), key=lambda d: d.name)
        if test_dir.is_dir()
        else []
    )
    type_dirs.sort(key=lambda d: d.name != NORMAL)  # normal images first, then defect types by name
    for type_dir in type_dirs:
        defect = type_dir.name
        for path in image_files(type_dir):
            mask = None if defect == NORMAL else _find_mask(root / "ground_truth" / defect, path)
            if mask is not None:
                _check_mask_size(path, mask)
            label = 0 if defect == NORMAL else 1
            items.append(ImageItem(path, "test", label, defect, mask, f"test/{defect}/{path.name}"))
    return items


def scan_flat(root: Path) -> list[ImageItem]:
    """Items of a flat folder of normal images: every image file directly inside is train/good."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"folder {root} does not exist or is not a folder")
    items = [
        ImageItem(path, "train", 0, NORMAL, None, f"train/{NORMAL}/{path.name}") for path in image_files(root)
    ]
    if not items:
        raise DatasetError(
            f"no images directly inside {root}; expected files ending in {', '.join(IMAGE_SUFFIXES)} "
            f"or the MVTec AD layout {LAYOUT}"
        )
    return items


def _find_mask(mask_dir: Path, image: Path) -> Path | None:
    for suffix in (".png", *IMAGE_SUFFIXES):
        for candidate in (
            mask_dir / f"{image.stem}_mask{suffix}",
            mask_dir / f"{image.stem}_mask{suffix.upper()}",
        ):
            if candidate.is_file():
                return candidate
    return None


def _check_mask_size(image: Path, mask: Path) -> None:
    """Compare header sizes; unreadable files are left for the loader to report."""
    try:
        with Image.open(image) as a, Image.open(mask) as b:
            image_size, mask_size = a.size, b.size
    except Exception:
        return
    if image_size != mask_size:
        raise DatasetError(
            f"mask {mask} is {mask_size[0]}x{mask_size[1]} px but its image {image} is "
            f"{image_size[0]}x{image_size[1]} px; a mask must have the size of its image"
        )


def dataset_channels(items: Sequence[ImageItem]) -> int:
    """1 if every train image is grayscale (after mode normalisation), else 3; stops at the first colour image."""
    train = [item for item in items if item.split == "train"]
    for item in train:
        try:
            with Image.open(item.path) as image:
                if image.mode in GRAY_MODES:
                    continue  # grayscale from the header alone
        except Exception:
            pass  # read_image names the problem
        if read_image(item.path)[1].channels == 3:
            return 3
    return 1 if train else 3


class FileSource(ImageSource):
    """A split's files, decoded when asked (`read_image`, then `image_to_tensor` at `image_size`, or NATIVE):
    nothing but the file list and the sizes from the headers stays in memory."""

    def __init__(
        self, items: Sequence[ImageItem], image_size: int, channels: int, with_masks: bool, sizes: list
    ) -> None:
        self.items, self.image_size, self.channels = list(items), image_size, channels
        self.with_masks, self.sizes = with_masks, sizes  # (H, W) of every image as loaded

    def __len__(self) -> int:
        return len(self.items)

    def size(self, index: int) -> tuple[int, int]:
        return self.sizes[index]

    def image(self, index: int) -> Tensor:
        image, _ = read_image(self.items[index].path)
        return image_to_tensor(image, self.channels, self.image_size)

    def mask(self, index: int) -> Tensor | None:
        return self._mask(index, self.image_size)

    def own_mask(self, index: int) -> Tensor | None:
        return self._mask(index, NATIVE)

    def _mask(self, index: int, size: int) -> Tensor | None:
        if not self.with_masks:
            return None
        item = self.items[index]
        if item.mask_path is None and size == self.image_size:
            return torch.zeros(self.sizes[index])
        width, height = header_size(item.path)
        if item.mask_path is None:
            return torch.zeros((height, width))
        mask, _ = read_image(item.mask_path)
        if mask.size != (width, height):
            raise DatasetError(
                f"mask {item.mask_path} is {mask.width}x{mask.height} px but its image {item.path} is "
                f"{width}x{height} px; a mask must have the size of its image"
            )
        return image_to_tensor(mask, 1, size, mask=True)


def load_split(
    items: Sequence[ImageItem], image_size: int, channels: int, with_masks: bool | None = None
) -> ImageSplit:
    """A split read from its files on demand: decoded, converted to `channels`, resized to a square `image_size`
    (or kept at its own size with NATIVE); masks (zeros where an item has none) when `with_masks`, by default
    when any item has one. Every header is read now, so a file that is no image fails here, by name."""
    if channels not in (1, 3):
        raise DatasetError(f"channels must be 1 or 3, got {channels}")
    if image_size != NATIVE and image_size < 8:
        raise DatasetError(f"image_size must be at least 8 px, got {image_size}")
    if with_masks is None:
        with_masks = any(item.mask_path is not None for item in items)
    with ThreadPoolExecutor(max_workers=2) as pool:
        headers = list(pool.map(lambda item: header_size(item.path), items))
    sizes = [(h, w) if image_size == NATIVE else (image_size, image_size) for w, h in headers]
    return ImageSplit(
        FileSource(items, image_size, channels, with_masks, sizes),
        labels=torch.tensor([item.label for item in items], dtype=torch.int64),
        defect_types=[item.defect_type for item in items],
        names=[item.name for item in items],
    )
