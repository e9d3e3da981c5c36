"""The compute device: CUDA with mixed precision when there is one and it is not refused, else the CPU."""

from __future__ import annotations

from dataclasses import dataclass

import torch


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
