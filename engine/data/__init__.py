"""Datasets by name: built-in MNIST sets, datasets recorded in the results store, or MVTec AD folders. A loaded
dataset's splits read their files batch by batch (engine.data.types.ImageSplit); `image_size` squashes every
image to a square of that side (the rule of every preset but `native`), NATIVE (0) keeps each image's own size."""

from __future__ import annotations

from pathlib import Path

from db import datasets as db_datasets
from db.models import Dataset as DatasetRecord
from db.store import Store
from engine.data.builtin import BUILTIN_NAMES, is_builtin, load_builtin, parse_builtin
from engine.data.mvtec import dataset_channels, is_mvtec_folder, load_split, scan_flat, scan_mvtec
from engine.data.types import NORMAL, DatasetError, ImageItem, LoadedDataset

DEFAULT_IMAGE_SIZE = 128


def known_datasets(store: Store | None = None) -> list[str]:
    """Built-in base names, then the names recorded in the store."""
    store = store or Store.at()
    return [*BUILTIN_NAMES, *(ds.name for ds in db_datasets.list_datasets(store))]


def load_dataset(
    name_or_path: str, image_size: int | None = None, seed: int = 0, store: Store | None = None
) -> LoadedDataset:
    """A dataset ready for training and evaluation: a built-in name, a store name, or an MVTec folder path;
    `image_size` None is the dataset's default square size, NATIVE every image at its own size."""
    name = str(name_or_path)
    looks_like_path = "/" in name or "\\" in name
    if not looks_like_path and is_builtin(name):
        parse_builtin(name)  # a bad digit fails here with the valid choices
        return load_builtin(name, image_size, seed)
    if (
        not looks_like_path
        and (record := db_datasets.get_dataset(store := store or Store.at(), name)) is not None
    ):
        return _load_stored(record, DEFAULT_IMAGE_SIZE if image_size is None else image_size, store)
    if Path(name).is_dir():
        return load_folder(Path(name), DEFAULT_IMAGE_SIZE if image_size is None else image_size)
    raise DatasetError(
        f"unknown dataset {name!r}; choose from {known_datasets(store)} (built-ins also as 'mnist:D' or "
        "'mnist-noisy:D' for normal digit D), or give the path of a folder in MVTec AD layout"
    )


def load_folder(root: Path, image_size: int = DEFAULT_IMAGE_SIZE) -> LoadedDataset:
    """An MVTec AD folder loaded directly (not recorded in the store); named after the folder. Its files are
    read when a batch asks for them; only their headers are read now."""
    root = Path(root)
    if not is_mvtec_folder(root):
        scan_flat(root)  # a folder without images fails here with its own message
        raise DatasetError(
            f"{root} is a flat folder of normal images with no test split; training and evaluation need a "
            "folder in MVTec AD layout (train/good, test/<type>, ground_truth/<type>), or import it and label "
            "test images in the dashboard"
        )
    items = scan_mvtec(root)
    return _load_items(root.resolve().name, items, image_size, dataset_channels(items))


def _load_stored(record: DatasetRecord, image_size: int, store: Store) -> LoadedDataset:
    """Items from the store's image rows, so labels edited in the dashboard are used.

    Train images labeled anomalous move to the test split; test images without a label are left out. A file
    gone from the data directory since the import is named (by its place in the dataset) before any loading."""
    root = Path(record.root)
    items, missing = [], []
    for row in db_datasets.list_images(store, record.id):
        split = "test" if row.split == "test" or row.label == 1 else "train"
        if split == "test" and row.label is None:
            continue
        label = int(row.label or 0)
        defect = (
            NORMAL if label == 0 else row.defect_type if row.defect_type not in (None, NORMAL) else "anomaly"
        )
        mask = root / row.mask_relpath if row.mask_relpath else None
        items.append(ImageItem(root / row.relpath, split, label, defect, mask, row.relpath))
        if not (root / row.relpath).is_file():
            missing.append(f"image {row.relpath}")
        if mask is not None and not mask.is_file():
            missing.append(f"mask {row.mask_relpath}")
    if missing:
        more = f" (and {len(missing) - 1} more file(s))" if len(missing) > 1 else ""
        raise DatasetError(
            f"{missing[0]} of dataset {record.name!r} is missing from the data directory{more}; put the file "
            "back, or delete the dataset and import it again"
        )
    return _load_items(record.name, items, image_size, record.channels)


def _load_items(name: str, items: list[ImageItem], image_size: int, channels: int) -> LoadedDataset:
    train = [item for item in items if item.split == "train"]
    test = [item for item in items if item.split == "test"]
    if not train:
        raise DatasetError(f"dataset {name!r} has no normal train images")
    if not test:
        raise DatasetError(
            f"dataset {name!r} has no labeled test images; add test/<type> folders or label images in the dashboard"
        )
    with_masks = any(item.mask_path is not None for item in items)
    return LoadedDataset(
        name=name,
        channels=channels,
        image_size=image_size,
        train=load_split(train, image_size, channels, with_masks),
        test=load_split(test, image_size, channels, with_masks),
    )
