"""DCGAN blocks: shapes for any channel count and supported size, and the discriminator's exposed features."""

from __future__ import annotations

import pytest
import torch

from engine.methods.components.dcgan import Discriminator, Encoder, Generator, feature_size


@pytest.mark.parametrize(("channels", "size"), [(1, 32), (3, 48), (1, 64), (3, 128), (1, 256)])
def test_blocks_fit_the_image_shape(channels: int, size: int) -> None:
    torch.manual_seed(0)
    fake = Generator(6, channels, size, width=4)(torch.randn(2, 6))
    assert fake.shape == (2, channels, size, size)
    assert fake.min() >= 0 and fake.max() <= 1
    out = Discriminator(channels, size, width=4)(fake)
    assert out.logit.shape == (2,)
    assert [f.shape[-1] for f in out.features] == [size // 2, size // 4, size // 8, size // 16]
    assert out.last_conv is out.features[-1] and out.last_conv.shape[:2] == (2, 32)
    mu, logvar = Encoder(channels, size, width=4, latent_dim=6)(fake)
    assert mu.shape == logvar.shape == (2, 6)


def test_last_conv_is_in_the_logit_graph() -> None:
    out = Discriminator(1, 32, width=4)(torch.rand(2, 1, 32, 32))
    (grad,) = torch.autograd.grad(out.logit.sum(), out.last_conv)
    assert grad.abs().sum() > 0


@pytest.mark.parametrize("size", [16, 40, 272])
def test_unsupported_sizes_name_the_choices(size: int) -> None:
    with pytest.raises(ValueError, match="multiple of 16 from 32 to 256"):
        feature_size(size)
