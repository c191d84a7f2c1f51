"""Resize-then-conv GAN: no transposed convs, modulated convolutions, seeded sampling."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from fakescope.errors import ConfigError
from fakescope.forge.generators.catalog import GENERATORS
from fakescope.forge.generators.resize_gan import ModulatedConv2d, ResizeGAN

TINY = {"batch_size": 8, "base_channels": 8, "max_channels": 16, "z_dim": 8}


def _images(size: int = 16, n: int = 24) -> torch.Tensor:
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(3))


def _sample(g: ResizeGAN, n: int = 4) -> torch.Tensor:
    return g.sample(n, torch.Generator().manual_seed(7))


def test_registered_as_gan() -> None:
    assert GENERATORS.get("resize_gan") is ResizeGAN and ResizeGAN.family == "gan"


@pytest.mark.parametrize("modulated", [True, False])
def test_same_seed_same_training_and_samples(tmp_path: Path, modulated: bool) -> None:
    params = {**TINY, "steps": 3, "modulated": modulated}
    a = ResizeGAN(params, image_size=16, seed=5)
    b = ResizeGAN(params, image_size=16, seed=5)
    before = _sample(a)
    a.fit(_images(), tmp_path / "a")
    b.fit(_images(), tmp_path / "b")
    out = _sample(a)
    assert out.shape == (4, 3, 16, 16)
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0
    torch.testing.assert_close(out, _sample(b), rtol=0, atol=0)
    assert not torch.equal(before, out)
    assert float(out.std(dim=0).mean()) > 0  # different z give different images


@pytest.mark.parametrize("modulated", [True, False])
@pytest.mark.parametrize("size", [16, 128])
def test_no_transposed_convs_at_any_size(modulated: bool, size: int) -> None:
    g = ResizeGAN({**TINY, "modulated": modulated}, image_size=size)
    assert not any(isinstance(m, nn.ConvTranspose2d) for m in g.G.modules())
    assert g.sample(1, torch.Generator()).shape == (1, 3, size, size)


def test_upsample_kernel_is_wired() -> None:
    nearest = ResizeGAN({**TINY, "upsample": "nearest"}, image_size=16, seed=1)
    bilinear = ResizeGAN({**TINY, "upsample": "bilinear"}, image_size=16, seed=1)
    for key, value in nearest.state_tensors().items():  # same seed -> same weights
        torch.testing.assert_close(bilinear.state_tensors()[key], value, rtol=0, atol=0)
    assert not torch.allclose(_sample(nearest), _sample(bilinear))


def test_modulated_conv_equals_per_sample_weights() -> None:
    torch.manual_seed(0)
    conv = ModulatedConv2d(4, 5, 3, 6, demodulate=True)
    x, w = torch.randn(2, 4, 8, 8), torch.randn(2, 6)
    s = conv.affine(w)
    for b in range(2):
        weight = conv.weight * s[b][None, :, None, None]
        weight = weight / weight.pow(2).sum(dim=(1, 2, 3), keepdim=True).sqrt()
        ref = F.conv2d(x[b : b + 1], weight, conv.bias, padding=1)
        torch.testing.assert_close(conv(x, w)[b : b + 1], ref, rtol=1e-4, atol=1e-5)


def test_demodulation_removes_style_scale() -> None:
    torch.manual_seed(0)
    conv = ModulatedConv2d(4, 5, 3, 6, demodulate=True)
    x, w = torch.randn(2, 4, 8, 8), torch.randn(2, 6)
    y = conv(x, w)
    with torch.no_grad():
        conv.affine.weight.mul_(3.0)
        conv.affine.bias.mul_(3.0)
    torch.testing.assert_close(conv(x, w), y, rtol=1e-4, atol=1e-5)


def test_bad_config_is_one_line_error() -> None:
    with pytest.raises(ConfigError, match="power of two >= 16"):
        ResizeGAN(TINY, image_size=40)
    with pytest.raises(ConfigError, match="'upsample'"):
        ResizeGAN({"upsample": "bicubic"}, image_size=16)
