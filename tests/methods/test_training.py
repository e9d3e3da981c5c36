"""The shared training loop: weighted epoch means, epoch numbering across phases, the schedule, and a cancel
(an `on_epoch` that raises) that stops training after the epoch it was told of."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor, nn

from engine.methods.progress import EpochLog
from engine.methods.training import StepLog, Updater, train_epochs


class Stop(Exception):
    pass


def test_epoch_means_are_weighted_and_modules_train_each_epoch() -> None:
    model = nn.Linear(2, 1)
    batches = [torch.zeros(1, 2), torch.zeros(3, 2)]
    modes: list[bool] = []

    def step(x: Tensor) -> StepLog:
        modes.append(model.training)
        model.eval()  # a step that leaves eval mode on must not carry it into the next epoch
        return StepLog({"loss": float(len(x)), "fixed": 2.0}, len(x))

    logs: list[EpochLog] = []
    train_epochs(batches, step, 2, [model], torch.device("cpu"), logs.append, first_epoch=3, total_epochs=5)
    assert [(log.epoch, log.epochs) for log in logs] == [(3, 5), (4, 5)]
    assert logs[0].losses == {"loss": (1 * 1 + 3 * 3) / 4, "fixed": 2.0}
    assert modes == [True, False, True, False]


def test_updater_steps_and_schedule_anneals_once_per_epoch() -> None:
    torch.manual_seed(0)
    model = nn.Linear(2, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    schedule = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
    updater = Updater(optimizer, mixed_precision=False)
    before = model.weight.detach().clone()

    def step(x: Tensor) -> StepLog:
        loss = model(x).square().mean()
        updater.update(loss)
        return StepLog({"loss": loss.item()})

    train_epochs([torch.ones(4, 2)] * 3, step, 2, [model], torch.device("cpu"), schedule=schedule)
    assert not torch.equal(model.weight, before)
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.1 * 0.5**2)


def test_a_raising_on_epoch_stops_training_after_that_epoch() -> None:
    steps: list[int] = []

    def cancel(log: EpochLog) -> None:
        raise Stop(log.epoch)

    with pytest.raises(Stop):
        train_epochs(
            [torch.zeros(1, 1)] * 2,
            lambda x: steps.append(1) or StepLog({}),
            10,
            [],
            torch.device("cpu"),
            cancel,
        )
    assert len(steps) == 2  # one epoch of two batches, then the cancel
