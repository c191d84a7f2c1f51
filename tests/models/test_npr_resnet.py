"""The NPR paper's network and residual scaling; cnn mean/std from the arch's timm config."""

from __future__ import annotations

import pytest
import timm
import torch
from torch import nn

import fakescope.models  # noqa: F401 - registers npr_resnet50 with timm
from fakescope.detectors.cnn import CNNDetector
from fakescope.models.npr import NPR_SCALE, NPRNet, npr_residual
from fakescope.models.timm_backbone import pretrained_mean_std


def test_npr_resnet50_is_the_shallow_paper_network() -> None:
    model = timm.create_model("npr_resnet50", num_classes=2)
    stem = model.conv1
    assert isinstance(stem, nn.Conv2d)
    assert stem.kernel_size == (3, 3) and stem.stride == (2, 2)
    x = torch.randn(2, 3, 64, 64)
    feats = model.forward_features(x)
    assert feats.shape == (2, 512, 8, 8)  # two stages only: 1/8 of the input, 512 channels
    assert model(x).shape == (2, 2)
    assert model.forward_head(feats, pre_logits=True).shape == (2, 512)
    # far fewer parameters than a full ResNet-50 (which has ~23.5M without its fc)
    assert sum(p.numel() for p in model.parameters()) < 2_000_000


def test_npr_resnet50_has_no_pretrained_weights() -> None:
    with pytest.raises(ValueError, match="no pretrained weights"):
        timm.create_model("npr_resnet50", pretrained=True)


def test_nprnet_scales_the_residual_by_two_thirds() -> None:
    class Spy(nn.Module):
        num_features = 3

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            self.seen = x
            return x.mean((2, 3))

    spy = Spy()
    x = torch.rand(1, 3, 8, 8)
    NPRNet(spy)(x)
    assert torch.allclose(spy.seen, npr_residual(x) * NPR_SCALE)
    assert pytest.approx(2 / 3) == NPR_SCALE


def test_cnn_takes_mean_and_std_from_the_pretrained_arch_config() -> None:
    xception = CNNDetector({"arch": "legacy_xception", "pretrained": True}).input_config
    assert xception.mean == (0.5, 0.5, 0.5) and xception.std == (0.5, 0.5, 0.5)
    lite = CNNDetector({"arch": "efficientnet_lite0"}).input_config
    assert lite.mean == pytest.approx((0.485, 0.456, 0.406))
    assert pretrained_mean_std("npr_resnet50")[0] == pytest.approx((0.485, 0.456, 0.406))
    scratch = CNNDetector({"arch": "legacy_xception", "pretrained": False}).input_config
    assert scratch.mean == pytest.approx((0.485, 0.456, 0.406))  # from scratch: ImageNet's
