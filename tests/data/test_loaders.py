"""Training loaders: seeded shuffling, and repeated passes that show every image equally often."""

from __future__ import annotations

from collections import Counter

import pytest
import torch

from engine.compute import MIN_BATCHES_PER_EPOCH, epoch_repeats
from engine.data.loaders import make_loader
from engine.methods import get_method
from engine.methods.params import make_params


def ids(loader) -> list[int]:
    return [int(v) for batch in loader for v in batch[:, 0, 0, 0]]


def test_repeats_show_every_image_equally_often_in_new_orders() -> None:
    images = torch.arange(10, dtype=torch.float32).view(10, 1, 1, 1)
    loader = make_loader(images, batch_size=4, shuffle=True, seed=3, repeats=3)
    order = ids(loader)
    assert len(order) == 30 and Counter(order) == Counter({i: 3 for i in range(10)})
    assert order[:10] != order[10:20]  # each pass is shuffled anew
    assert order == ids(make_loader(images, batch_size=4, shuffle=True, seed=3, repeats=3))  # seeded
    with pytest.raises(ValueError, match="shuffle"):
        make_loader(images, batch_size=4, repeats=2)


def test_epoch_repeats_only_lift_tiny_training_sets_at_the_cpu_preset() -> None:
    vae = make_params(get_method("vae"), "cpu")  # batch 32
    assert epoch_repeats(vae, "cpu", 32) == MIN_BATCHES_PER_EPOCH
    assert epoch_repeats(vae, "cpu", 100) == 2  # 4 batches -> 8
    assert epoch_repeats(vae, "cpu", 32 * MIN_BATCHES_PER_EPOCH) == 1
    assert epoch_repeats(vae, "cpu", 210) == 1  # 7 batches: already close to the minimum
    assert epoch_repeats(vae, "paper", 32) == 1 and epoch_repeats(vae, "smoke", 32) == 1
    assert epoch_repeats(make_params(get_method("padim"), "cpu"), "cpu", 32) == 1  # no epochs: one pass
