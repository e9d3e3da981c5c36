"""A run saves what its method learned: every trained module and tensor, never a frozen pretrained backbone."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from tests.methods.test_registry import fit_and_predict
from tests.slow import marked_slow


# fits twice: the inner loop checks the VAE, CI all four
@pytest.mark.parametrize(
    "key", marked_slow(["padim", "patchcore", "vae", "cutpaste"], slow={"cutpaste", "padim", "patchcore"})
)
def test_state_dict_keeps_what_was_learned(key, make_images):
    method, _, test, before = fit_and_predict(key, 3, make_images)
    state = method.state_dict()
    modules = {name: m for name, m in vars(method).items() if isinstance(m, nn.Module)}
    for name, module in modules.items():
        trained = any(p.requires_grad for p in module.parameters())
        assert (name in state) == trained, f"{key}.{name}: trained={trained}, saved={name in state}"
    tensors = [name for name, v in vars(method).items() if isinstance(v, torch.Tensor)]
    assert all(name in state for name in tensors)
    if key in ("padim", "patchcore"):
        assert "backbone" not in state  # ImageNet or seeded weights, restored from where they came
    fresh, *_ = fit_and_predict(key, 3, make_images, seed=0)
    fresh.load_state_dict(state)
    torch.testing.assert_close(fresh.predict(test).score, before.score)
