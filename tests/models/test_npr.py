"""NPR: the residual of nearest up-sampling, odd sizes, and the wrapper around a timm model."""

from __future__ import annotations

from typing import Any

import pytest
import timm
import torch
import torch.nn.functional as F

from fakescope.models.network import feature_width, pooled_features
from fakescope.models.npr import NPR_SCALE, NPRNet, npr_residual

GEN = torch.Generator().manual_seed(0)


def test_residual_of_a_2x_nearest_upsampled_image_is_exactly_zero() -> None:
    small = torch.rand(2, 3, 8, 8, generator=GEN)
    up = F.interpolate(small, scale_factor=2, mode="nearest")
    assert torch.equal(npr_residual(up), torch.zeros_like(up))
    noisy = torch.rand(2, 3, 16, 16, generator=GEN)
    assert npr_residual(noisy).abs().amax() > 0.1  # a non-up-sampled image leaves a trace


def test_residual_values_are_differences_to_the_cell_corner() -> None:
    x = torch.arange(16.0).reshape(1, 1, 4, 4)
    r = npr_residual(x)[0, 0]
    assert torch.equal(r[::2, ::2], torch.zeros(2, 2))
    assert torch.equal(r[0, 1::2], torch.ones(2))  # x[0, 1] - x[0, 0]
    assert torch.equal(r[1::2, 0::2], torch.full((2, 2), 4.0))  # next row: +4


@pytest.mark.parametrize("size", [(7, 9), (5, 5), (33, 32)])
def test_odd_sizes_keep_the_shape(size: tuple[int, int]) -> None:
    x = torch.rand(1, 3, *size, generator=GEN)
    r = npr_residual(x)
    assert r.shape == x.shape and torch.equal(r[..., 0, 0], torch.zeros(1, 3))
    with pytest.raises(ValueError, match=r"\[B, C, H, W\]"):
        npr_residual(x[0])


def test_nprnet_filters_then_delegates() -> None:
    torch.manual_seed(0)
    net: Any = timm.create_model("test_resnet", num_classes=2).eval()
    wrapped = NPRNet(net).eval()
    x = torch.rand(2, 3, 32, 32, generator=GEN)
    with torch.no_grad():
        assert torch.allclose(wrapped(x), net(npr_residual(x) * NPR_SCALE))
        feats = wrapped.forward_features(x)
        assert torch.allclose(feats, net.forward_features(npr_residual(x) * NPR_SCALE))
        pooled = wrapped.forward_head(feats, pre_logits=True)
        assert pooled.shape == (2, net.num_features)
        assert torch.allclose(pooled_features(wrapped, x), pooled)
    assert wrapped.num_features == net.num_features == feature_width(wrapped) == 96
    assert all(k.startswith("net.") for k in wrapped.state_dict())
