"""open_clip backbones, exercised with a randomly initialised tiny ViT config (no download)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

from fakescope.errors import FakescopeError
from fakescope.models import openclip as openclip_module
from fakescope.models.backbone import Backbone
from fakescope.models.catalog import create_backbone

open_clip = pytest.importorskip(
    "open_clip", reason="open_clip_torch is not installed (pip install 'fakescope[clip]')"
)

TINY = "fakescope-tiny-vit"
TINY_CFG = {
    "embed_dim": 16,
    "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "head_width": 16, "patch_size": 8},
    "text_cfg": {"context_length": 8, "vocab_size": 64, "width": 16, "heads": 2, "layers": 1},
}


@pytest.fixture(scope="module", autouse=True)
def tiny_config(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Register the tiny model config with open_clip (a JSON file named after the model)."""
    path = tmp_path_factory.mktemp("open_clip") / f"{TINY}.json"
    path.write_text(json.dumps(TINY_CFG))
    open_clip.add_model_config(path)


@pytest.fixture(scope="module")
def tiny() -> Backbone:
    torch.manual_seed(0)
    return create_backbone(f"open_clip:{TINY}", pretrained=False)


def test_image_tower_embeds(tiny: Backbone) -> None:
    x = torch.randn(2, 3, 32, 32)
    out = tiny.forward_features(x)
    assert out.shape == (2, 16) and tiny.feature_dim == 16
    assert tiny.name == f"open_clip:{TINY}"
    names = set(tiny.model.state_dict())
    assert "conv1.weight" in names and not names & {
        "token_embedding.weight",
        "text_projection",
        "logit_scale",
    }
    cfg = tiny.input_config
    assert cfg.size == 32
    assert cfg.mean == pytest.approx(open_clip.OPENAI_DATASET_MEAN)
    assert cfg.std == pytest.approx(open_clip.OPENAI_DATASET_STD)


def test_embedding_is_encode_image(tiny: Backbone) -> None:
    clip = open_clip.create_model(TINY, pretrained=None)
    clip.visual.load_state_dict(tiny.model.state_dict())
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(tiny(x), clip.eval().encode_image(x), atol=1e-6)


def test_full_clip_state_dict_loads_visual_part(tiny: Backbone, tmp_path: Path) -> None:
    clip = open_clip.create_model(TINY, pretrained=None)
    clip.visual.load_state_dict(tiny.model.state_dict())
    from fakescope.models.weights import save_safetensors_atomic

    path = save_safetensors_atomic(clip.state_dict(), tmp_path / "clip.safetensors")
    loaded = create_backbone(f"open_clip:{TINY}", weights=path)
    assert loaded.cache_key == tiny.cache_key


def test_tag_preprocessing_and_quick_gelu_follow_the_tag(monkeypatch: pytest.MonkeyPatch) -> None:
    tag_cfg: dict[str, Any] = {
        "mean": (0.5, 0.5, 0.5),
        "std": (0.25, 0.25, 0.25),
        "quick_gelu": True,
    }
    real = open_clip.get_pretrained_cfg
    monkeypatch.setattr(
        open_clip,
        "get_pretrained_cfg",
        lambda m, t: tag_cfg if (m, t) == (TINY, "fake") else real(m, t),
    )
    b = create_backbone(f"open_clip:{TINY}/fake", pretrained=False)
    assert b.input_config.mean == (0.5, 0.5, 0.5) and b.input_config.std == (0.25, 0.25, 0.25)
    assert any(type(m).__name__ == "QuickGELU" for m in b.model.modules())


def test_pretrained_needs_a_known_tag() -> None:
    with pytest.raises(
        FakescopeError, match=r"needs a pretrained tag, e\.g\. open_clip:ViT-L-14/openai"
    ):
        create_backbone("open_clip:ViT-L-14")
    with pytest.raises(
        FakescopeError, match="no pretrained tag 'bogus' for ViT-L-14; known: openai"
    ):
        create_backbone("open_clip:ViT-L-14/bogus")
    with pytest.raises(FakescopeError, match="open_clip has no model 'nope'"):
        create_backbone("open_clip:nope/openai", pretrained=False)


def test_offline_download_is_a_one_line_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def offline(*args: object, **kwargs: object) -> None:
        raise RuntimeError("Failed to download weights for tag 'openai': no network\ntraceback")

    monkeypatch.setattr(open_clip, "create_model", offline)
    monkeypatch.setattr(openclip_module, "hub_offline_reason", lambda: None)  # "online"
    with pytest.raises(FakescopeError) as info:
        create_backbone("open_clip:ViT-L-14/openai")
    msg = str(info.value)
    assert "cannot be downloaded here" in msg and "\n" not in msg
    assert "--set detector.params.weights=PATH" in msg
