"""The compute device, plus the locations of `db.locations` (environment variables) re-exported for the engine."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from db.locations import PROJECT_ROOT, data_dir, db_url, mlflow_artifact_root, mlflow_uri

__all__ = [
    "PROJECT_ROOT",
    "DeviceInfo",
    "data_dir",
    "db_url",
    "mlflow_artifact_root",
    "mlflow_uri",
    "pick_device",
]


@dataclass(frozen=True)
class DeviceInfo:
    device: torch.device
    mixed_precision: bool

    @property
    def name(self) -> str:
        if self.device.type == "cuda":
            return f"cuda:{torch.cuda.get_device_name(self.device)}"
        return "cpu"


DEVICES = ("auto", "cpu", "cuda")


def pick_device(prefer: str = "auto") -> DeviceInfo:
    """CUDA (with mixed precision) when available and not refused, else CPU."""
    if prefer not in DEVICES:
        raise ValueError(f"unknown device {prefer!r}; choose from {list(DEVICES)}")
    if prefer != "cpu" and torch.cuda.is_available():
        return DeviceInfo(torch.device("cuda"), mixed_precision=True)
    if prefer == "cuda":
        raise ValueError("device 'cuda' was asked for but this machine has no CUDA device; use auto or cpu")
    return DeviceInfo(torch.device("cpu"), mixed_precision=False)
