"""`Prediction`, what every method returns for a batch of images: scores, maps and embeddings, checked at the
boundary (`check`), moved to the CPU and joined batch by batch."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
from torch import Tensor

Maps = Tensor | list[Tensor]  # (N, ...) stacked, or one tensor per image where the images differ in size


@dataclass
class Prediction:
    """What a method returns for a batch of N images of shape (N, C, H, W); for images of several sizes (on
    tiles, at native resolution) the maps are a list of one (H, W) tensor per image, the rest as below."""

    score: Tensor  # (N,) higher = more anomalous
    anomaly_map: Maps  # (N, H, W) pixel evidence, input size
    embedding: Tensor  # (N, D) vector used for the t-SNE view
    reconstruction: Maps | None = None  # (N, C, H, W)
    attention: Maps | None = None  # (N, H, W)

    def check(self, images: Tensor | list[Tensor]) -> Prediction:
        """Raise if shapes do not match `images` ((N, C, H, W), or a list of (C, H, W)) or values are not
        finite."""
        return self.check_shapes([tuple(image.shape) for image in images])

    def check_shapes(self, shapes: list[tuple[int, ...]]) -> Prediction:
        """`check` against the (C, H, W) of every image."""
        n = len(shapes)
        if tuple(self.score.shape) != (n,):
            raise ValueError(f"Prediction.score has shape {tuple(self.score.shape)}, expected ({n},)")
        for name, keep in (
            ("anomaly_map", slice(1, 3)),
            ("reconstruction", slice(0, 3)),
            ("attention", slice(1, 3)),
        ):
            value = getattr(self, name)
            if value is None:
                continue
            got = [tuple(v.shape) for v in value]
            want = [shape[keep] for shape in shapes]
            if got != want:
                found = tuple(value.shape) if isinstance(value, Tensor) else f"{len(got)} maps"
                raise ValueError(f"Prediction.{name} has shape {found}, expected {want[:1]} x {n}")
        if self.embedding.ndim != 2 or self.embedding.shape[0] != n:
            raise ValueError(
                f"Prediction.embedding has shape {tuple(self.embedding.shape)}, expected ({n}, D)"
            )
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value is not None and not all(torch.isfinite(v).all() for v in _parts(value)):
                raise ValueError(f"Prediction.{f.name} holds NaN or inf")
        return self

    def to_cpu(self) -> Prediction:
        """A detached float32 copy on the CPU."""

        def move(t: Maps | None) -> Maps | None:
            if t is None:
                return None
            if isinstance(t, list):
                return [v.detach().float().cpu() for v in t]
            return t.detach().float().cpu()

        return Prediction(*(move(getattr(self, f.name)) for f in dataclasses.fields(self)))

    @staticmethod
    def concat(parts: list[Prediction]) -> Prediction:
        """Join per-batch predictions along the batch axis; maps of several sizes become a list per image."""
        if not parts:
            raise ValueError("no predictions to concatenate")

        def cat(name: str) -> Maps | None:
            values = [getattr(p, name) for p in parts]
            if values[0] is None:
                return None
            if all(isinstance(v, Tensor) for v in values) and len({v.shape[1:] for v in values}) == 1:
                return torch.cat(values)
            per_image = [item for v in values for item in v]
            if len({item.shape for item in per_image}) == 1:
                return torch.stack(per_image)
            return per_image

        return Prediction(*(cat(f.name) for f in dataclasses.fields(Prediction)))


def _parts(value: Maps) -> list[Tensor]:
    return value if isinstance(value, list) else [value]
