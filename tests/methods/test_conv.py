"""The shared conv encoder/decoder adapt to any channel count and any H=W multiple of 16 in 32..256."""

from __future__ import annotations

import pytest
import torch

from engine.methods.components.conv import ConvDecoder, ConvEncoder, conv_layout


@pytest.mark.parametrize("size", [32, 48, 64, 80, 128, 256])
@pytest.mark.parametrize("channels", [1, 3])
def test_encoder_decoder_round_trip_shapes(size: int, channels: int) -> None:
    torch.manual_seed(0)
    encoder, decoder = ConvEncoder(channels, size, 12, width=4), ConvDecoder(12, channels, size, width=4)
    x = torch.rand(2, channels, size, size)
    code = encoder(x)
    out = decoder(code)
    assert code.shape == (2, 12)
    assert out.shape == x.shape
    assert out.min() >= 0.0 and out.max() <= 1.0
    layout = encoder.layout
    assert encoder.features(x).shape == (2, layout.widths[-1], layout.feature_size, layout.feature_size)


def test_layout_halves_down_to_four_pixels_and_caps_channels() -> None:
    layout = conv_layout(128, width=32)
    assert layout.feature_size == 4 and layout.widths == (32, 64, 128, 256, 256)
    assert conv_layout(32).feature_size == 4
    assert conv_layout(48).feature_size == 3  # stops at an odd side


@pytest.mark.parametrize("size", [16, 40, 272])
def test_unsupported_sizes_name_the_valid_choices(size: int) -> None:
    with pytest.raises(ValueError, match="multiple of 16 from 32 to 256"):
        ConvEncoder(1, size, 8)


def test_bias_free_encoder_has_no_bias_or_shift() -> None:
    encoder = ConvEncoder(3, 32, 8, width=4, bias=False)
    names = [name for name, _ in encoder.named_parameters()]
    assert names and not any(name.endswith("bias") for name in names)
