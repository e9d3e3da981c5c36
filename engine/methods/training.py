"""The one training loop of every trained method: epochs of batches, each handed to the method's step; mixed
precision on CUDA (`Updater`); an `EpochLog` of the epoch's mean losses after each epoch (where a cancelled run
stops: `on_epoch` raises)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import NamedTuple

import torch
from torch import Tensor, nn

from engine.methods.progress import EpochLog, OnEpoch


class StepLog(NamedTuple):
    """What one training step reports: its losses and its weight in the epoch's mean."""

    losses: dict[str, float]
    weight: float = 1.0  # e.g. the images of the batch; 1.0: every batch counts the same


Step = Callable[[Tensor], StepLog]  # a batch on the method's device -> its losses, after the update


class Updater:
    """An optimizer with its GradScaler: one scaled backward pass and step per `update` (scaling only on CUDA
    mixed precision)."""

    def __init__(self, optimizer: torch.optim.Optimizer, mixed_precision: bool) -> None:
        self.optimizer = optimizer
        self.scaler = torch.amp.GradScaler("cuda", enabled=mixed_precision)

    def update(self, loss: Tensor) -> None:
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()


def train_epochs(
    train: Iterable,
    step: Step,
    epochs: int,
    modules: Iterable[nn.Module],
    device: torch.device,
    on_epoch: OnEpoch | None = None,
    schedule: torch.optim.lr_scheduler.LRScheduler | None = None,
    first_epoch: int = 1,
    total_epochs: int | None = None,
) -> None:
    """Run `epochs` passes of `step` over `train` with `modules` in training mode; after each, `schedule.step()`
    and `on_epoch` with the weighted mean of every loss. Epochs are numbered from `first_epoch` out of
    `total_epochs` (default: the last one), so that phases of one fit report as one count."""
    modules = list(modules)
    last = first_epoch + epochs - 1
    for epoch in range(first_epoch, last + 1):
        for module in modules:
            module.train()
        sums: dict[str, float] = {}
        weight = 0.0
        for batch in train:
            logged = step(batch.to(device))
            for name, value in logged.losses.items():
                sums[name] = sums.get(name, 0.0) + value * logged.weight
            weight += logged.weight
        if schedule is not None:
            schedule.step()
        if on_epoch is not None:
            losses = {name: value / max(weight, 1) for name, value in sums.items()}
            on_epoch(EpochLog(epoch, total_epochs or last, losses))
