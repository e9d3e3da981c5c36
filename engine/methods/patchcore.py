"""PatchCore (Roth et al., CVPR 2022, https://arxiv.org/abs/2106.08265): a memory bank of locally aggregated
layer2+layer3 patch features, thinned by greedy coreset selection; anomaly = distance to the nearest patch.

On tiles (the native preset) nothing changes for the model: the bank is position-free, so one bank gathers the
patches of every tile of every training image (sampled down to `max_bank` before the coreset), and a test tile's
patches are looked up in it wherever the tile lies; the tile maps are stitched, the image scored from the stitched
map (engine.methods.components.tiling)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import DataLoader

from engine.config import DeviceInfo
from engine.methods.base import BaseMethod, embedding_centroid
from engine.methods.components.backbone import DEFAULT_BACKBONE, BackboneName, layer_channels, resize_input
from engine.methods.components.gaussian import upsample_blur
from engine.methods.params import check_choices, knob
from engine.methods.prediction import Prediction
from engine.methods.progress import EpochLog, OnEpoch

LAYERS = ("layer2", "layer3")
CHUNK_ELEMENTS = 1 << 24  # distance-matrix entries per chunk (64 MB in float32)


@dataclass(frozen=True)
class Params:
    backbone: BackboneName = knob(DEFAULT_BACKBONE, "a timm name from components/backbone.py BACKBONES")
    weights: str = knob("auto", '"auto" / "imagenet", "random" or a weights file (components/backbone.py)')
    input_size: int = knob(224, "backbone input px; 0 = as loaded", range=(0, 1024))
    coreset_ratio: float = knob(
        0.1,
        "fraction of the (capped) bank kept by greedy coreset selection",
        range=(1e-4, 1.0),
    )
    projection_dim: int = knob(
        128,
        "random projection used only to pick the coreset; 0 = none",
        range=(0, 4096),
    )
    max_bank: int = knob(
        100_000,
        "patches sampled uniformly from the training set before the coreset",
        range=(1, 10_000_000),
    )
    reweight: bool = knob(True, "the paper's score reweighting by the neighbourhood of the nearest patch")
    neighbours: int = knob(9, "b of the reweighting", range=(1, 1000))
    blur_sigma: float = knob(4.0, "px, on the upsampled map", range=(0.0, 64.0))
    batch_size: int = knob(32, range=(1, 1024))

    def __post_init__(self) -> None:
        check_choices(self, "patchcore")
        if not 0 < self.coreset_ratio <= 1:
            raise ValueError(f"coreset_ratio={self.coreset_ratio} for patchcore: choose a value in (0, 1]")
        if self.max_bank < 1 or self.neighbours < 1 or self.projection_dim < 0:
            raise ValueError("patchcore: max_bank and neighbours must be >= 1, projection_dim >= 0")


def aggregate(maps: dict[str, Tensor]) -> Tensor:
    """Layer maps -> (B, K2 + K3, h2, w2): 3x3 local average of each, layer3 upsampled to layer2's size."""
    size = maps[LAYERS[0]].shape[-2:]
    parts = []
    for name in LAYERS:
        local = F.avg_pool2d(maps[name].float(), kernel_size=3, stride=1, padding=1)
        parts.append(F.interpolate(local, size=size, mode="bilinear", align_corners=False))
    return torch.cat(parts, dim=1)


def greedy_coreset(features: Tensor, size: int, projection_dim: int, generator: torch.Generator) -> Tensor:
    """Indices (size,) of a k-center greedy coreset of (N, D) features, chosen in a random projection."""
    n, dim = features.shape
    size = min(size, n)
    z = features.float()
    if 0 < projection_dim < dim:
        projection = torch.randn(dim, projection_dim, generator=generator) / projection_dim**0.5
        z = z @ projection.to(z.device)  # (N, k), distances roughly kept (Johnson-Lindenstrauss)
    squared = (z * z).sum(dim=1)  # (N,)
    chosen = torch.empty(size, dtype=torch.long, device=z.device)
    current = torch.randint(n, (1,), generator=generator).to(z.device)[0]
    nearest = torch.full((n,), float("inf"), device=z.device)  # squared distance to the closest chosen point
    for i in range(size):
        chosen[i] = current
        distance = torch.addmv(squared, z, z[current], alpha=-2.0) + squared[current]  # (N,)
        torch.minimum(nearest, distance, out=nearest)
        current = nearest.argmax()
    return chosen


def pairwise_distances(a: Tensor, b: Tensor) -> Tensor:
    """Euclidean distances (A, B) between the rows of a (A, D) and b (B, D) as one matrix product, as
    torch.cdist computes them beyond 25 rows; written out because cdist picks its algorithm by row count,
    which an exported graph with a dynamic batch axis cannot hold."""
    a, b = a.float(), b.float()
    squared = (a * a).sum(dim=1, keepdim=True) - 2.0 * (a @ b.T) + (b * b).sum(dim=1)  # (A, B)
    return squared.clamp_min(0.0).sqrt()


def nearest_neighbours(queries: Tensor, bank: Tensor) -> tuple[Tensor, Tensor]:
    """Distance (Q,) and index (Q,) of each query's nearest bank row, computed in memory-bounded chunks (in
    one block inside an exported graph: a loop over its dynamic batch axis cannot be traced)."""
    if torch.compiler.is_exporting():
        best = pairwise_distances(queries, bank).min(dim=1)  # (Q, M) -> (Q,)
        return best.values, best.indices
    rows = max(1, CHUNK_ELEMENTS // max(1, bank.shape[0]))
    distances, indices = [], []
    for start in range(0, queries.shape[0], rows):
        best = pairwise_distances(queries[start : start + rows], bank).min(dim=1)  # (rows, M) -> (rows,)
        distances.append(best.values)
        indices.append(best.indices)
    return torch.cat(distances), torch.cat(indices)


class Patchcore(BaseMethod):
    key: ClassVar[str] = "patchcore"
    description: ClassVar[str] = (
        "a coreset memory bank of pretrained patch features; score = distance to the nearest (Roth et al. "
        "2022)"
    )
    Params: ClassVar[type] = Params
    smooth_maps: ClassVar[bool] = True
    without_loss: ClassVar[bool] = True  # "loss" is the coreset radius
    presets: ClassVar[dict] = {
        "smoke": {"weights": "random", "input_size": 0, "max_bank": 2_000, "batch_size": 8},
        "cpu": {"max_bank": 30_000, "batch_size": 32},
        "paper": {
            "backbone": "wide_resnet50_2",
            "coreset_ratio": 0.1,
            "max_bank": 1_000_000,
            "batch_size": 32,
        },
        # images at their own size on 224 px tiles, each fed to the backbone as it is (input_size 0)
        "native": {"input_size": 0, "max_bank": 100_000, "batch_size": 32, "tile": 224},
    }

    def __init__(
        self,
        params: Params,
        image_shape: tuple[int, int, int],
        device: DeviceInfo | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__(params, image_shape, device, seed)
        self.backbone, _ = self.feature_backbone(params.backbone, params.weights, LAYERS)
        self.backbone.to(self.device).eval().requires_grad_(False)
        self.memory_bank: Tensor | None = None  # (M, D) coreset of training patch features

    @classmethod
    def memory_bytes(cls, params: Params, channels: int, side: int) -> float:
        """The sampled patches (up to twice `max_bank` before each thinning, then their concatenation)."""
        return 3.0 * params.max_bank * layer_channels(params.backbone, LAYERS) * 4

    @torch.no_grad()
    def features(self, images: Tensor) -> Tensor:
        """[0, 1] images (B, C, H, W) -> patch features (B, D, S/8, S/8) at S = input_size, float32."""
        x = resize_input(images.to(self.device), self.params.input_size)
        with self.autocast():
            maps = self.backbone(x)
        return aggregate(maps)

    def fit(
        self, train: DataLoader, labeled_anomalies: DataLoader | None = None, on_epoch: OnEpoch | None = None
    ) -> None:
        torch.manual_seed(self.seed)
        generator = torch.Generator().manual_seed(self.seed)
        cap = self.params.max_bank
        kept, keys, pooled = [], [], []  # a uniform sample of patches: the `cap` smallest random keys
        seen = 0
        for batch in train:
            feats = self.features(batch)  # (B, D, h, w)
            pooled.append(feats.mean(dim=(2, 3)))
            patches = feats.permute(0, 2, 3, 1).reshape(-1, feats.shape[1])  # (B*h*w, D)
            seen += patches.shape[0]
            kept.append(patches)
            keys.append(torch.rand(patches.shape[0], generator=generator).to(self.device))
            if sum(k.shape[0] for k in keys) > 2 * cap:
                kept, keys = self._subsample(kept, keys, cap)
        if sum(k.shape[0] for k in keys) > cap:
            kept, keys = self._subsample(kept, keys, cap)
        bank = torch.cat(kept)  # (N, D)
        size = max(1, round(self.params.coreset_ratio * bank.shape[0]))
        chosen = greedy_coreset(bank, size, self.params.projection_dim, generator)
        self.memory_bank = bank[chosen].contiguous()  # (M, D)
        self.centroid = embedding_centroid(torch.cat(pooled))
        self.notes.append(
            f"memory bank: {self.memory_bank.shape[0]} coreset patches from {bank.shape[0]} of {seen}"
        )
        if on_epoch is not None:  # no training loss: report the coverage radius of the coreset over the bank
            radius = nearest_neighbours(bank, self.memory_bank)[0].max().item()
            on_epoch(EpochLog(1, 1, {"loss": radius}))

    @staticmethod
    def _subsample(kept: list[Tensor], keys: list[Tensor], cap: int) -> tuple[list[Tensor], list[Tensor]]:
        all_keys = torch.cat(keys)
        keep = all_keys.topk(cap, largest=False).indices
        return [torch.cat(kept)[keep]], [all_keys[keep]]

    def predict(self, images: Tensor) -> Prediction:
        if self.memory_bank is None:
            raise RuntimeError("patchcore: call fit() before predict()")
        feats = self.features(images)  # (B, D, h, w)
        b, dim, h, w = feats.shape
        patches = feats.permute(0, 2, 3, 1).reshape(b, h * w, dim)  # (B, P, D)
        distance, index = nearest_neighbours(patches.reshape(-1, dim), self.memory_bank)
        distance, index = distance.view(b, h * w), index.view(b, h * w)  # (B, P)
        score, worst = distance.max(dim=1)  # (B,) most anomalous patch per image
        if self.params.reweight:
            score = score * self.reweighting(patches[torch.arange(b), worst], index[torch.arange(b), worst])
        anomaly_map = upsample_blur(distance.view(b, h, w), tuple(images.shape[-2:]), self.params.blur_sigma)
        return Prediction(score=score, anomaly_map=anomaly_map, embedding=feats.mean(dim=(2, 3)))

    def reweighting(self, test_patch: Tensor, nearest: Tensor) -> Tensor:
        """Paper eq. 7: 1 - softmax weight of the nearest bank patch m* among its b neighbours, per image (B,)."""
        bank = self.memory_bank
        b = min(self.params.neighbours, bank.shape[0])
        # (B, b) nearest bank rows of m*, m* itself first
        around = pairwise_distances(bank[nearest], bank).topk(b, largest=False).indices
        distances = (test_patch[:, None, :] - bank[around]).norm(dim=-1)  # (B, b)
        return 1.0 - distances.softmax(dim=1)[:, 0]
