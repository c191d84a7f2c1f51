"""The cnn detector's network: output widths, NPR wrapping, feature widths, pooled features."""

from __future__ import annotations

import timm
import torch

from fakescope.models.network import (
    arch_feature_width,
    create_network,
    feature_width,
    pooled_features,
)
from fakescope.models.npr import NPRNet

X = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))


def test_output_widths_and_filter() -> None:
    with torch.no_grad():
        assert create_network("test_resnet", 3).eval()(X).shape == (2, 3)
        assert create_network("test_resnet", 0).eval()(X).shape == (2, 96)  # pooled features
        npr = create_network("test_resnet", 5, input_filter="npr").eval()
        assert isinstance(npr, NPRNet) and npr(X).shape == (2, 5)


def test_feature_widths_use_the_pre_logits_size() -> None:
    assert arch_feature_width("test_resnet") == 96
    # mobilenetv3 has a conv head: pre-logits (1280) are wider than num_features (960)
    assert arch_feature_width("mobilenetv3_large_100") == 1280
    model = timm.create_model("test_resnet", num_classes=4).eval()
    with torch.no_grad():
        pooled = pooled_features(model, X)
        assert pooled.shape == (2, feature_width(model))
        assert torch.allclose(model.get_classifier()(pooled), model(X), atol=1e-5)
