"""Backbone registry, timm backbones, weights files, cache keys, frozen/trainable behaviour."""

from __future__ import annotations

from pathlib import Path

import pytest
import timm
import torch

from fakescope.errors import FakescopeError
from fakescope.models import timm_backbone
from fakescope.models.backbone import Backbone
from fakescope.models.catalog import BACKBONES, create_backbone, list_backbones
from fakescope.models.weights import WeightsError

TINY = "timm:test_resnet"  # timm's 0.4M-parameter test ResNet


@pytest.fixture(scope="module")
def tiny() -> Backbone:
    torch.manual_seed(0)
    return create_backbone(TINY, pretrained=False)


def _batch() -> torch.Tensor:
    torch.manual_seed(1)
    return torch.randn(2, 3, 32, 32)


def test_list_backbones_shows_name_patterns() -> None:
    names = list_backbones()
    assert names == ["efficientnet_lite0", "open_clip:<model>/<tag>", "timm:<arch>"]
    assert set(BACKBONES.names()) == {"efficientnet_lite0", "open_clip", "timm"}


def test_unknown_name_lists_known_names() -> None:
    with pytest.raises(FakescopeError) as info:
        create_backbone("resnet-9000")
    msg = str(info.value)
    assert "unknown backbone 'resnet-9000'" in msg
    assert "efficientnet_lite0" in msg and "timm:<arch>" in msg and "open_clip:<model>/<tag>" in msg
    assert "\n" not in msg


def test_name_arguments_are_checked() -> None:
    with pytest.raises(FakescopeError, match="needs an argument: use timm:<arch>"):
        create_backbone("timm", pretrained=False)
    with pytest.raises(FakescopeError, match="takes no argument"):
        create_backbone("efficientnet_lite0:big", pretrained=False)
    with pytest.raises(FakescopeError, match="timm has no architecture 'resnet9000'"):
        create_backbone("timm:resnet9000", pretrained=False)


def test_timm_resnet18_gives_pooled_features() -> None:
    resnet = create_backbone("timm:resnet18", pretrained=False)
    out = resnet.forward_features(_batch())
    assert out.shape == (2, 512)
    assert resnet.feature_dim == 512
    assert resnet.name == "timm:resnet18"
    cfg = resnet.input_config
    assert cfg.size == 224
    assert cfg.mean == pytest.approx((0.485, 0.456, 0.406))
    assert torch.equal(resnet(_batch()), out)


def test_feature_dim_matches_output(tiny: Backbone) -> None:
    assert tiny.forward_features(_batch()).shape == (2, tiny.feature_dim)


def test_timm_pretrained_offline_gives_one_line_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def offline(*args: object, **kwargs: object) -> None:
        raise OSError("We couldn't connect to 'https://huggingface.co'\nsecond line")

    monkeypatch.setattr(timm, "create_model", offline)
    monkeypatch.setattr(timm_backbone, "hub_offline_reason", lambda: None)  # "online"
    with pytest.raises(FakescopeError) as info:
        create_backbone("timm:resnet18", pretrained=True)
    msg = str(info.value)
    assert "cannot be downloaded here" in msg
    assert "--set detector.params.weights=PATH" in msg
    assert "--set detector.params.pretrained=false" in msg
    assert "\n" not in msg


def test_frozen_by_default_and_stays_in_eval(tiny: Backbone) -> None:
    assert not tiny.trainable
    assert not any(p.requires_grad for p in tiny.parameters())
    tiny.train()
    assert tiny.training and not tiny.model.training
    x = _batch().requires_grad_(True)
    tiny(x).sum().backward()  # input gradients still flow (ODIN)
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_trainable_backbone_trains() -> None:
    b = create_backbone(TINY, pretrained=False, trainable=True)
    assert b.trainable and all(p.requires_grad for p in b.parameters())
    b.train()
    assert b.model.training
    b.set_trainable(False)
    assert not b.model.training and not any(p.requires_grad for p in b.parameters())


def test_cache_key_tracks_weights(tiny: Backbone, tmp_path: Path) -> None:
    key = tiny.cache_key
    assert key.startswith("timm_test_resnet-") and "/" not in key and ":" not in key
    path = tiny.save_weights(tmp_path / "tiny.safetensors")
    same = create_backbone(TINY, weights=path)
    assert same.cache_key == key
    state = {k: v.clone() for k, v in tiny.model.state_dict().items()}
    state["conv1.0.weight"] += 0.01
    same.load_weights(state)
    assert same.cache_key != key
    torch.manual_seed(123)
    other = create_backbone(TINY, pretrained=False)
    assert other.cache_key != key


def test_safetensors_weights_round_trip(tiny: Backbone, tmp_path: Path) -> None:
    path = tiny.save_weights(tmp_path / "w.safetensors")
    loaded = create_backbone(TINY, weights=path)
    x = _batch()
    assert torch.allclose(loaded(x), tiny(x))


def test_timm_checkpoint_with_head_loads(tiny: Backbone, tmp_path: Path) -> None:
    full = timm.create_model("test_resnet", pretrained=False, num_classes=1000)
    full.load_state_dict(tiny.model.state_dict(), strict=False)
    from fakescope.models.weights import save_safetensors_atomic

    path = save_safetensors_atomic(full.state_dict(), tmp_path / "with_head.safetensors")
    loaded = create_backbone(TINY, weights=path)
    assert torch.allclose(loaded(_batch()), tiny(_batch()))


def test_weights_shape_mismatch_is_one_line(tmp_path: Path) -> None:
    other = create_backbone("timm:test_efficientnet", pretrained=False)
    path = other.save_weights(tmp_path / "effnet.safetensors")
    with pytest.raises(WeightsError) as info:
        create_backbone(TINY, weights=path)
    assert "do not fit this model" in str(info.value) and "\n" not in str(info.value)


def test_pickle_weights_need_consent(tiny: Backbone, tmp_path: Path) -> None:
    path = tmp_path / "w.pth"
    torch.save(tiny.model.state_dict(), path)
    with pytest.raises(WeightsError, match="allow_pickle"):
        create_backbone(TINY, weights=path)
    loaded = create_backbone(TINY, weights=path, allow_pickle=True)
    assert torch.allclose(loaded(_batch()), tiny(_batch()))
