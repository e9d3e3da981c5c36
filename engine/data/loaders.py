"""DataLoaders over image tensors: every batch is a plain (B, C, H, W) tensor."""

from __future__ import annotations

import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset


class TensorImages(Dataset):
    """Indexable view of an (N, C, H, W) tensor that yields single images."""

    def __init__(self, images: Tensor) -> None:
        self.images = images

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def __getitem__(self, index: int) -> Tensor:
        return self.images[index]


def make_loader(images: Tensor, batch_size: int, shuffle: bool = False, seed: int = 0) -> DataLoader:
    """A loader of image batches; shuffling is seeded so runs repeat on CPU."""
    generator = torch.Generator().manual_seed(seed)
    return DataLoader(
        TensorImages(images),
        batch_size=max(1, min(batch_size, len(images))),
        shuffle=shuffle,
        generator=generator if shuffle else None,
        drop_last=False,
    )
