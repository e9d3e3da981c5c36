"""DataLoaders over a split (read from disk batch by batch) or an image tensor. A batch is a plain (B, C, H, W)
tensor when its images share one size, else a list of (C, H, W) tensors (a native-resolution split of mixed
sizes, which the methods see only as tiles: engine.methods.components.tiling)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, Sampler

from engine.data.types import ImageSplit

DECODE_THREADS = 2  # files of one batch decoded at once (PIL releases the GIL while decoding)


class TensorImages(Dataset):
    """Indexable view of an (N, C, H, W) tensor that yields single images."""

    def __init__(self, images: Tensor) -> None:
        self.images = images

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def __getitem__(self, index: int) -> Tensor:
        return self.images[index]


class SplitImages(Dataset):
    """The images of a split, each read from its source (file) when a batch asks for it."""

    def __init__(self, split: ImageSplit) -> None:
        self.split = split

    def __len__(self) -> int:
        return len(self.split)

    def __getitem__(self, index: int) -> Tensor:
        return self.split.image(index)

    def __getitems__(self, indices: list[int]) -> list[Tensor]:
        """A batch's images, decoded on a few threads (torch's DataLoader calls this for a whole batch)."""
        if len(indices) < 2:
            return [self.split.image(i) for i in indices]
        with ThreadPoolExecutor(max_workers=DECODE_THREADS) as pool:
            return list(pool.map(self.split.image, indices))


def collate(images: list[Tensor]) -> Tensor | list[Tensor]:
    """One (B, C, H, W) tensor when the images share a size (as torch's default collation), else the list."""
    if len({tuple(image.shape) for image in images}) == 1:
        return torch.stack(images)
    return list(images)


class RepeatedPermutations(Sampler[int]):
    """Indices 0..n-1 in a fresh random order, `repeats` times over: every image equally often per pass."""

    def __init__(self, n: int, repeats: int, generator: torch.Generator) -> None:
        self.n, self.repeats, self.generator = n, repeats, generator

    def __iter__(self):
        for _ in range(self.repeats):
            yield from torch.randperm(self.n, generator=self.generator).tolist()

    def __len__(self) -> int:
        return self.n * self.repeats


def make_loader(
    images: Tensor | ImageSplit, batch_size: int, shuffle: bool = False, seed: int = 0, repeats: int = 1
) -> DataLoader:
    """A loader of image batches from a split (streamed from its files) or a tensor; shuffling is seeded so
    runs repeat on CPU, and a split at one size gives the very batches its tensor would. With `repeats` > 1
    (shuffled only) one pass goes over the images that many times, each time in a new order."""
    if repeats < 1 or (repeats > 1 and not shuffle):
        raise ValueError(f"repeats must be 1, or more with shuffle=True; got {repeats} (shuffle={shuffle})")
    generator = torch.Generator().manual_seed(seed)
    sampler = RepeatedPermutations(len(images), repeats, generator) if repeats > 1 else None
    dataset = SplitImages(images) if isinstance(images, ImageSplit) else TensorImages(images)
    return DataLoader(
        dataset,
        batch_size=max(1, min(batch_size, len(images))),
        shuffle=shuffle and sampler is None,
        sampler=sampler,
        generator=generator if shuffle and sampler is None else None,
        drop_last=False,
        collate_fn=collate,
    )
