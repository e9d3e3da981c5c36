"""DataLoaders over image tensors: every batch is a plain (B, C, H, W) tensor."""

from __future__ import annotations

import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, Sampler


class TensorImages(Dataset):
    """Indexable view of an (N, C, H, W) tensor that yields single images."""

    def __init__(self, images: Tensor) -> None:
        self.images = images

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def __getitem__(self, index: int) -> Tensor:
        return self.images[index]


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
    images: Tensor, batch_size: int, shuffle: bool = False, seed: int = 0, repeats: int = 1
) -> DataLoader:
    """A loader of image batches; shuffling is seeded so runs repeat on CPU. With `repeats` > 1 (shuffled
    only) one pass goes over the images that many times, each time in a new order."""
    if repeats < 1 or (repeats > 1 and not shuffle):
        raise ValueError(f"repeats must be 1, or more with shuffle=True; got {repeats} (shuffle={shuffle})")
    generator = torch.Generator().manual_seed(seed)
    sampler = RepeatedPermutations(len(images), repeats, generator) if repeats > 1 else None
    return DataLoader(
        TensorImages(images),
        batch_size=max(1, min(batch_size, len(images))),
        shuffle=shuffle and sampler is None,
        sampler=sampler,
        generator=generator if shuffle and sampler is None else None,
        drop_last=False,
    )
