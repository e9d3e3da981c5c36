"""Built-in MNIST sets: split counts, the noisy protocol's determinism, name parsing."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
import torch

from engine.data import load_dataset
from engine.data.builtin import NoiseParams, load_builtin, mnist_digits, parse_builtin, render_noisy
from engine.data.types import DatasetError


def test_mnist_split_counts():
    data = load_dataset("mnist")
    assert data.channels == 1 and data.image_size == 32 and not data.has_masks
    assert data.train.images.shape == (400, 1, 32, 32) and data.train.masks is None
    assert set(data.train.defect_types) == {"good"} and int(data.train.labels.sum()) == 0
    counts = Counter(data.test.defect_types)
    assert counts == {"good": 100, **{f"digit_{d}": 50 for d in range(1, 10)}}
    assert data.test.labels.tolist() == [int(d != "good") for d in data.test.defect_types]
    assert not set(data.train.names) & set(data.test.names)


def test_normal_digit_and_size_from_name():
    data = load_builtin("mnist:7", image_size=16)
    _, labels = mnist_digits()
    train_ids = [int(name.rsplit("/", 1)[1].removesuffix(".png")) for name in data.train.names]
    assert set(labels[train_ids].tolist()) == {7}
    assert data.train.images.shape == (400, 1, 16, 16) and "digit_7" not in data.test.defect_types


def test_mnist_noisy_is_deterministic_given_seed():
    a = load_dataset("mnist-noisy:1", seed=3)
    b = load_dataset("mnist-noisy:1", seed=3)
    c = load_dataset("mnist-noisy:1", seed=4)
    assert a.image_size == 64 and a.test.images.shape == (550, 1, 64, 64)
    assert torch.equal(a.train.images, b.train.images) and a.test.names == b.test.names
    assert not torch.equal(a.train.images, c.train.images)
    assert a.train.images.min() >= 0.0 and a.train.images.max() <= 1.0


def test_render_noisy_places_a_scaled_digit_with_noise():
    digits, _ = mnist_digits()
    quiet = render_noisy(digits[0], NoiseParams(noise_std=0.0), seed=0, index=0)
    assert quiet.shape == (84, 84) and quiet.dtype == np.float32
    ink = np.argwhere(quiet > 0.5)
    extent = ink.max(axis=0) - ink.min(axis=0) + 1
    assert extent.max() <= 56 and quiet.sum() > 0  # at most the 2x digit, somewhere on the canvas
    noisy = render_noisy(digits[0], NoiseParams(), seed=0, index=0)
    assert np.array_equal(noisy, render_noisy(digits[0], NoiseParams(), seed=0, index=0))
    assert (noisy[quiet == 0] > 0).mean() > 0.3  # background carries noise


@pytest.mark.parametrize("name", ["mnist:12", "mnist:x", "fashion"])
def test_bad_builtin_names_list_choices(name):
    with pytest.raises(DatasetError, match="mnist-noisy"):
        parse_builtin(name)
