"""Torchvision ResNet feature backbones (He et al. 2016, https://arxiv.org/abs/1512.03385) with weights from the
torch hub cache, a bounded one-time download, a local file or random init; never crashes or hangs on weights.

Weights file formats accepted by `load_backbone(name, weights=<path>)`:
- a torchvision state dict of the same architecture (`torch.save(resnet.state_dict(), path)`); `fc.*` is ignored;
- a workbench backbone file written by `save_backbone` (e.g. by `simclr_local`): a dict
  `{"format": "anomaly-workbench-backbone", "version": 1, "arch": "resnet18", "origin": "simclr_local",
  "state_dict": {torchvision ResNet keys without fc.*}}`; it expects `imagenet_normalize`d inputs.
"""

from __future__ import annotations

import os
import threading
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torchvision import models

ARCHS = {"resnet18": models.resnet18, "wide_resnet50_2": models.wide_resnet50_2}
IMAGENET_URLS = {
    "resnet18": models.ResNet18_Weights.IMAGENET1K_V1.url,
    "wide_resnet50_2": models.Wide_ResNet50_2_Weights.IMAGENET1K_V1.url,
}
LAYER_CHANNELS = {
    "resnet18": {"layer1": 64, "layer2": 128, "layer3": 256, "layer4": 512},
    "wide_resnet50_2": {"layer1": 256, "layer2": 512, "layer3": 1024, "layer4": 2048},
}
STAGES = ("layer1", "layer2", "layer3", "layer4")
WEIGHT_CHOICES = ("auto", "imagenet", "random", "<path to a weights file>")
FILE_FORMAT = "anomaly-workbench-backbone"
DOWNLOAD_TIMEOUT_S = 10.0  # whole download, including name resolution; ResNet18 is 45 MB
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

_download_errors: dict[str, str] = {}  # url -> why it failed; a process tries each download at most once


@dataclass(frozen=True)
class BackboneInfo:
    name: str  # architecture, e.g. "resnet18"
    source: str  # "imagenet", "file:<path>" or "random"
    message: str = ""  # one-line notice when the requested weights could not be used

    @property
    def feature_dim(self) -> int:
        """Channels of the pooled layer4 output."""
        return LAYER_CHANNELS[self.name]["layer4"]


def _describe(exc: BaseException) -> str:
    """An exception as one line: its type and message."""
    return f"{type(exc).__name__}: {' '.join(str(exc).split())}"


def cache_path(name: str) -> Path:
    """Where torch hub keeps (or would keep) the ImageNet weights of `name`."""
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(IMAGENET_URLS[name])


def _download(url: str, target: Path, timeout: float) -> str | None:
    """Fetch `url` to `target` within `timeout` seconds in a worker thread; None on success, else the reason."""
    stop = threading.Event()
    result: dict[str, str | None] = {"error": None}

    def fetch() -> None:
        part = target.with_suffix(target.suffix + ".part")
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            with urllib.request.urlopen(url, timeout=timeout) as response, open(part, "wb") as out:
                while chunk := response.read(1 << 20):
                    if stop.is_set():
                        raise TimeoutError(f"timed out after {timeout:g} s")
                    out.write(chunk)
            os.replace(part, target)
            result["error"] = None
        except Exception as exc:  # network, disk or HTTP errors all mean "not available"
            result["error"] = _describe(exc)
            part.unlink(missing_ok=True)

    worker = threading.Thread(target=fetch, daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        stop.set()  # the thread gives up at its next chunk; a hung DNS lookup dies with the process
        return f"timed out after {timeout:g} s"
    return result["error"]


def _imagenet_state(name: str, timeout: float) -> tuple[dict[str, Tensor] | None, str]:
    """ImageNet weights from the hub cache or one bounded download attempt; (state, "") or (None, reason)."""
    path = cache_path(name)
    if not path.exists():
        url = IMAGENET_URLS[name]
        if _download_errors:
            earlier = next(iter(_download_errors.values()))
            return None, f"not cached ({path}) and no download tried after an earlier failure ({earlier})"
        error = _download(url, path, timeout)
        if error is not None:
            _download_errors[url] = error
            return None, f"not cached ({path}) and download failed ({error})"
    try:
        return torch.load(path, map_location="cpu", weights_only=True), ""
    except Exception as exc:
        return None, f"unreadable in the cache ({path}: {_describe(exc)})"


def _file_state(name: str, path: Path) -> tuple[dict[str, Tensor] | None, str]:
    """A state dict from a torchvision or workbench weights file; (state, "") or (None, reason)."""
    if not path.is_file():
        return None, "does not exist"
    try:
        raw: Any = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        return None, f"is unreadable ({_describe(exc)})"
    if isinstance(raw, dict) and raw.get("format") == FILE_FORMAT:
        if raw.get("arch") != name:
            return None, f"holds a {raw.get('arch')!r} backbone"
        raw = raw.get("state_dict")
    if not isinstance(raw, dict) or not all(isinstance(v, Tensor) for v in raw.values()):
        return None, "is not a state dict (a mapping of names to tensors)"
    return raw, ""


def _apply(model: nn.Module, state: dict[str, Tensor]) -> str:
    """Load `state` (fc.* ignored) into `model`; "" on success, else the reason (and `model` is untouched)."""
    state = {
        k.removeprefix("module."): v for k, v in state.items() if not k.startswith(("fc.", "module.fc."))
    }
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    if missing:
        return f"do not fit ({len(missing)} tensors missing, e.g. {missing[0]!r})"
    wrong = [k for k in expected if tuple(state[k].shape) != tuple(expected[k].shape)]
    if wrong:
        shapes = f"{tuple(state[wrong[0]].shape)} instead of {tuple(expected[wrong[0]].shape)}"
        return f"do not fit ({wrong[0]!r} has shape {shapes})"
    model.load_state_dict({k: state[k] for k in expected})
    return ""


def load_backbone(
    name: str = "resnet18", weights: str = "auto", download_timeout: float = DOWNLOAD_TIMEOUT_S
) -> tuple[nn.Module, BackboneInfo]:
    """A torchvision ResNet with `fc` removed (forward gives pooled features) and where its weights came from.

    `weights`: "imagenet" or "auto" (hub cache, else one download bounded by `download_timeout`), "random", or
    a path to a weights file (see the module docstring). When the weights cannot be used the model keeps its
    random initialisation and `BackboneInfo.message` says why.
    """
    if name not in ARCHS:
        raise ValueError(f"unknown backbone {name!r}; choose from {sorted(ARCHS)}")
    if not weights:
        raise ValueError(f"empty weights for backbone {name!r}; choose from {list(WEIGHT_CHOICES)}")
    model = ARCHS[name](weights=None)
    model.fc = nn.Identity()
    if weights == "random":
        return model, BackboneInfo(name, "random")
    if weights in ("auto", "imagenet"):
        state, reason = _imagenet_state(name, download_timeout)
        source, what = "imagenet", f"ImageNet weights for {name}"
    else:
        state, reason = _file_state(name, Path(weights).expanduser())
        source, what = f"file:{weights}", f"weights file {weights} for {name}"
    if state is not None:
        reason = _apply(model, state)
        if not reason:
            return model, BackboneInfo(name, source)
    return model, BackboneInfo(name, "random", f"{what} {reason}; using random initialisation")


def save_backbone(model: nn.Module, path: str | Path, name: str, origin: str) -> Path:
    """Write a ResNet's weights (without fc) as a workbench backbone file that `load_backbone` reads."""
    if name not in ARCHS:
        raise ValueError(f"unknown backbone {name!r}; choose from {sorted(ARCHS)}")
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items() if not k.startswith("fc.")}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(
        {"format": FILE_FORMAT, "version": 1, "arch": name, "origin": origin, "state_dict": state}, path
    )
    return path


def imagenet_normalize(images: Tensor) -> Tensor:
    """(B, C, H, W) in [0, 1] with C in {1, 3} -> (B, 3, H, W) standardised with ImageNet statistics."""
    if images.shape[1] == 1:
        images = images.expand(-1, 3, -1, -1)
    elif images.shape[1] != 3:
        raise ValueError(f"backbone inputs need 1 or 3 channels, got {images.shape[1]}")
    mean = images.new_tensor(IMAGENET_MEAN)[None, :, None, None]
    std = images.new_tensor(IMAGENET_STD)[None, :, None, None]
    return (images - mean) / std


def feature_maps(model: nn.Module, images: Tensor, layers: Sequence[str] = STAGES[:3]) -> dict[str, Tensor]:
    """Run a ResNet on [0, 1] images up to the deepest of `layers`; {layer: (B, K, H/s, W/s)}."""
    unknown = [name for name in layers if name not in STAGES]
    if unknown or not layers:
        raise ValueError(f"unknown layers {unknown or list(layers)}; choose from {list(STAGES)}")
    x = imagenet_normalize(images)
    x = model.maxpool(model.relu(model.bn1(model.conv1(x))))  # (B, 64, H/4, W/4)
    deepest = max(STAGES.index(name) for name in layers)
    out: dict[str, Tensor] = {}
    for name in STAGES[: deepest + 1]:
        x = getattr(model, name)(x)
        if name in layers:
            out[name] = x
    return out


def pooled(layer4: Tensor) -> Tensor:
    """Global average of a layer4 map (B, K, h, w) -> (B, K), as the ResNet head does."""
    return layer4.mean(dim=(2, 3))
