"""Tiling, shared by every method through engine.methods.base: an image of any size is cut into overlapping
square tiles, the method fits and predicts on tiles as if they were images, and the tile maps are stitched back
into one map at the image's own resolution.

- Grid: along each side, the fewest tiles whose starts are at most `stride` apart, spread evenly so the first
  starts at 0 and the last ends at the edge (no padding, no tile hanging over). A side shorter than a tile is
  padded by reflection up to the tile and the stitched map cropped back.
- Blending: every tile map is weighted by a separable sine-squared window (largest at the tile's centre, small
  but positive at its rim, where a network sees the least context) and the sums divided by the summed weights:
  a constant map stays constant, and no seam shows where tiles meet.
- Image score: the maximum of the stitched map, after a Gaussian blur of SCORE_SIGMA px for methods whose maps
  are per-pixel errors (the reconstruction methods; the feature methods' maps are smooth already).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass
from functools import cached_property
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

TILE_KEYS = ("tile", "tile_stride")  # run options (`--set tile=224`), accepted by every method
TILE_RANGES = {"tile": (0, 4096), "tile_stride": (0, 4096)}  # px, inclusive
WINDOW_FLOOR = 1e-3  # weight of a tile's rim pixels against its centre's 1
SCORE_SIGMA = 4.0  # px, blur before the maximum for methods whose maps are per-pixel
SHUFFLE_POOL = 4  # fitting: tiles of about this many batches are pooled and drawn in a random order


@dataclass(frozen=True)
class Tiling:
    """A run's tiling options, recorded with its parameters and in its model file."""

    tile: int = 0  # px a side; 0 = whole images, no tiling
    tile_stride: int = 0  # px between tile starts at most; 0 = half a tile

    def __post_init__(self) -> None:
        for name, (lo, hi) in TILE_RANGES.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
                raise ValueError(
                    f"{name}={value!r} is out of range; expected a whole number from {lo} to {hi}"
                )
        if self.tile and self.tile < 32:
            raise ValueError(
                f"tile={self.tile} is too small for a network; choose 0 (no tiling) or 32 to 4096"
            )
        if self.tile_stride > self.tile:
            raise ValueError(
                f"tile_stride={self.tile_stride} is larger than tile={self.tile}: tiles would leave gaps; "
                "choose 0 (half a tile) to the tile size"
            )

    @property
    def stride(self) -> int:
        return self.tile_stride or max(1, self.tile // 2)

    def as_params(self) -> dict[str, int]:
        return asdict(self)


class Tiler:
    """Cuts (C, H, W) images into (T, C, tile, tile) tiles and stitches (T, ..., tile, tile) maps back."""

    def __init__(self, tile: int, stride: int) -> None:
        if tile < 1 or not 1 <= stride <= tile:
            raise ValueError(f"a tiler needs tile >= 1 and 1 <= stride <= tile, got {tile} and {stride}")
        self.tile, self.stride = tile, stride

    def starts(self, length: int) -> list[int]:
        """Tile starts along a side of `length` px: [0] for a side no longer than a tile."""
        if length <= self.tile:
            return [0]
        n = math.ceil((length - self.tile) / self.stride) + 1
        return [round(i * (length - self.tile) / (n - 1)) for i in range(n)]

    def boxes(self, height: int, width: int) -> list[tuple[int, int]]:
        """(top, left) of every tile, row by row; a tile's place in this list is its slot."""
        return [(top, left) for top in self.starts(height) for left in self.starts(width)]

    def count(self, height: int, width: int) -> int:
        return len(self.starts(height)) * len(self.starts(width))

    def cut(self, image: Tensor) -> Tensor:
        """(C, H, W) -> (T, C, tile, tile), in slot order."""
        height, width = image.shape[-2:]
        padded = pad_to(image, self.tile)
        return torch.stack(
            [padded[:, t : t + self.tile, left : left + self.tile] for t, left in self.boxes(height, width)]
        )

    @cached_property
    def window(self) -> Tensor:
        """(tile, tile) blending weights: sin^2 across each side, at least WINDOW_FLOOR."""
        ramp = torch.sin(math.pi * (torch.arange(self.tile, dtype=torch.float32) + 0.5) / self.tile) ** 2
        return torch.outer(ramp, ramp).clamp_min(WINDOW_FLOOR)

    def stitch(self, maps: Tensor, height: int, width: int) -> Tensor:
        """(T, ..., tile, tile) tile maps of one (H, W) image -> (..., H, W), windowed average of the overlaps."""
        boxes = self.boxes(height, width)
        if maps.shape[0] != len(boxes):
            raise ValueError(f"{maps.shape[0]} tile maps for an image of {len(boxes)} tiles")
        lead = tuple(maps.shape[1:-2])
        full_h, full_w = max(height, self.tile), max(width, self.tile)
        window = self.window.to(maps.device)
        total = maps.new_zeros((*lead, full_h, full_w), dtype=torch.float32)
        weight = maps.new_zeros((full_h, full_w), dtype=torch.float32)
        for tile_map, (top, left) in zip(maps.float(), boxes, strict=True):
            total[..., top : top + self.tile, left : left + self.tile] += tile_map * window
            weight[top : top + self.tile, left : left + self.tile] += window
        return (total / weight)[..., :height, :width]


def pad_to(image: Tensor, size: int) -> Tensor:
    """(C, H, W) padded at the bottom and right by reflection (repeated where the image is less than half the
    size) to at least `size` a side."""
    while True:
        height, width = image.shape[-2:]
        need_h, need_w = max(size - height, 0), max(size - width, 0)
        if not need_h and not need_w:
            return image
        if min(height, width) < 2:  # nothing to reflect
            return F.pad(image[None], (0, need_w, 0, need_h), mode="replicate")[0]
        image = F.pad(image[None], (0, min(need_w, width - 1), 0, min(need_h, height - 1)), mode="reflect")[0]


def map_score(anomaly_map: Tensor, sigma: float) -> Tensor:
    """The image score of a stitched (H, W) map: its maximum, after a Gaussian blur of `sigma` px when > 0."""
    if sigma > 0:
        from engine.methods.components.gaussian import upsample_blur

        anomaly_map = upsample_blur(anomaly_map[None], tuple(anomaly_map.shape), sigma)[0]
    return anomaly_map.amax()


def cut_images(tiler: Tiler, images: Tensor | list[Tensor]) -> tuple[Tensor, Tensor, list[tuple[int, int]]]:
    """A batch of images (a tensor, or a list of mixed sizes) -> all their tiles (sum T, C, t, t), each tile's
    slot (sum T,) and every image's (H, W)."""
    tiles, slots, sizes = [], [], []
    for image in images:
        height, width = image.shape[-2:]
        cut = tiler.cut(image)
        tiles.append(cut)
        slots.append(torch.arange(cut.shape[0]))
        sizes.append((int(height), int(width)))
    return torch.cat(tiles), torch.cat(slots), sizes


class TileBatches:
    """Batches of `batch_size` tiles cut from the image batches of `images` (a loader), for fitting a method on
    tiles as if they were images: iterate it for tile tensors, or `with_slots()` for (tiles, slots). With
    `shuffle`, the tiles of several image batches are pooled and drawn in a seeded random order, so one batch
    mixes tiles of several images. Every iteration is a new pass over the loader."""

    def __init__(
        self, images: Iterable, tiler: Tiler, batch_size: int, shuffle: bool = False, seed: int = 0
    ) -> None:
        self.images, self.tiler, self.batch_size, self.shuffle = images, tiler, max(1, batch_size), shuffle
        self.generator = torch.Generator().manual_seed(seed)
        self.sizes: set[tuple[int, int]] = set()  # (H, W) of the images cut so far

    def __iter__(self) -> Iterator[Tensor]:
        for tiles, _ in self.with_slots():
            yield tiles

    def with_slots(self) -> Iterator[tuple[Tensor, Tensor]]:
        pool_tiles: list[Tensor] = []
        pool_slots: list[Tensor] = []
        pooled = 0
        limit = self.batch_size * (SHUFFLE_POOL if self.shuffle else 1)
        for batch in self.images:
            tiles, slots, sizes = cut_images(self.tiler, batch)
            self.sizes.update(sizes)
            pool_tiles.append(tiles)
            pool_slots.append(slots)
            pooled += tiles.shape[0]
            if pooled >= limit:
                yield from self._drain(pool_tiles, pool_slots, keep_rest=True)
                pooled = sum(t.shape[0] for t in pool_tiles)
        yield from self._drain(pool_tiles, pool_slots, keep_rest=False)

    def _drain(
        self, tiles: list[Tensor], slots: list[Tensor], keep_rest: bool
    ) -> Iterator[tuple[Tensor, Tensor]]:
        """Yield full batches from the pool (and the remainder unless `keep_rest`); the pool lists are refilled
        with what is kept."""
        if not tiles:
            return
        all_tiles, all_slots = torch.cat(tiles), torch.cat(slots)
        tiles.clear()
        slots.clear()
        if self.shuffle:
            order = torch.randperm(all_tiles.shape[0], generator=self.generator)
            all_tiles, all_slots = all_tiles[order], all_slots[order]
        full = all_tiles.shape[0] // self.batch_size * self.batch_size
        end = full if keep_rest else all_tiles.shape[0]
        for start in range(0, end, self.batch_size):
            yield all_tiles[start : start + self.batch_size], all_slots[start : start + self.batch_size]
        if keep_rest and full < all_tiles.shape[0]:
            tiles.append(all_tiles[full:])
            slots.append(all_slots[full:])


def predict_tiled(
    tiler: Tiler,
    images: Tensor | list[Tensor],
    predict: Callable[[Tensor, Tensor], Any],
    batch_size: int,
    score_sigma: float,
) -> dict[str, Any]:
    """A method's prediction for whole images, made on their tiles: `predict(tiles, slots)` (a Prediction of
    the tiles) runs on `batch_size` tiles at a time; maps (and reconstructions, attention) are stitched per
    image, the score is `map_score` of the stitched map, the embedding the mean of the tiles'. Returns the
    Prediction's fields, with maps as one (H, W) tensor per image."""
    tiles, slots, sizes = cut_images(tiler, images)
    parts = [
        predict(tiles[start : start + batch_size], slots[start : start + batch_size])
        for start in range(0, tiles.shape[0], max(1, batch_size))
    ]

    def joined(name: str) -> Tensor | None:
        values = [getattr(part, name) for part in parts]
        return None if values[0] is None else torch.cat([v.detach() for v in values])

    maps, embeddings = joined("anomaly_map"), joined("embedding")
    reconstructions, attentions = joined("reconstruction"), joined("attention")
    counts = [tiler.count(h, w) for h, w in sizes]
    bounds = [sum(counts[:i]) for i in range(len(counts) + 1)]
    spans = [(bounds[i], bounds[i + 1], *sizes[i]) for i in range(len(sizes))]
    stitched = [tiler.stitch(maps[a:b], h, w) for a, b, h, w in spans]
    return {
        "score": torch.stack([map_score(m, score_sigma) for m in stitched]),
        "anomaly_map": stitched,
        "embedding": torch.stack([embeddings[a:b].float().mean(dim=0) for a, b, _, _ in spans]),
        "reconstruction": None
        if reconstructions is None
        else [tiler.stitch(reconstructions[a:b], h, w).clamp(0.0, 1.0) for a, b, h, w in spans],
        "attention": None
        if attentions is None
        else [tiler.stitch(attentions[a:b], h, w) for a, b, h, w in spans],
    }
