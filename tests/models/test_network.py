"""The cnn detector's network: output widths, NPR wrapping, feature widths, pooled features."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import timm
import torch

from fakescope.models.network import (
    arch_feature_width,
    create_network,
    feature_width,
    pooled_features,
)
from fakescope.models.npr import NPRNet
from fakescope.models.weights import WeightsError

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
    model: Any = timm.create_model("test_resnet", num_classes=4).eval()
    with torch.no_grad():
        pooled = pooled_features(model, X)
        assert pooled.shape == (2, feature_width(model))
        assert torch.allclose(model.get_classifier()(pooled), model(X), atol=1e-5)


def test_start_weights_from_a_pickle_need_consent(tmp_path: Path) -> None:
    """The cnn's ``weights`` + ``allow_pickle`` path: a .pt start point loads only with consent."""
    torch.manual_seed(1)
    source = timm.create_model("test_resnet", num_classes=3)
    path = tmp_path / "start.pt"
    torch.save(source.state_dict(), path)
    with pytest.raises(WeightsError, match=r"--set detector\.params\.allow_pickle=true"):
        create_network("test_resnet", 3, weights=str(path))
    net = create_network("test_resnet", 3, weights=str(path), allow_pickle=True).eval()
    with torch.no_grad():
        assert torch.allclose(net(X), source.eval()(X), atol=1e-6)


def test_cnn_params_carry_allow_pickle_to_the_network(tmp_path: Path) -> None:
    from fakescope.detectors.cnn import CNNDetector

    torch.manual_seed(2)
    source = timm.create_model("test_resnet", num_classes=2)
    path = tmp_path / "start.pth"
    torch.save({"state_dict": source.state_dict()}, path)
    params = {"arch": "test_resnet", "weights": str(path), "allow_pickle": True}
    net = CNNDetector(params)._create(2).eval()
    with torch.no_grad():
        assert torch.allclose(net(X), source.eval()(X), atol=1e-6)
    with pytest.raises(WeightsError, match="allow_pickle"):
        CNNDetector({**params, "allow_pickle": False})._create(2)
