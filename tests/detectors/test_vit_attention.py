"""The ``vit`` detector: timm ViT + CLS attention maps (checked against timm) + map autoencoder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import timm
import torch
from sklearn.metrics import roc_auc_score

from fakescope.data.schema import LABEL, PATH
from fakescope.detectors.catalog import DETECTORS, Detector
from fakescope.detectors.vit_attention import RESIDUAL, ViTDetector, cls_attention
from fakescope.errors import ConfigError
from fakescope.ood.abnormality import AbnormalityScorer
from tests.detectors.test_cnn import table

#: A tiny random-init ViT: 32 px, 8 px patches (4 x 4 grid), 2 blocks, width 32, 2 heads.
VIT_KW: dict[str, Any] = {"patch_size": 8, "depth": 2, "embed_dim": 32, "num_heads": 2}
TINY: dict[str, Any] = {
    "arch": "vit_tiny_patch16_224",
    "img_size": 32,
    "model_kwargs": VIT_KW,
    "epochs": 6,
    "lr": 3e-3,
    "batch_size": 8,
    "num_workers": 0,
    "progress": False,
    "patience": None,
    "ae_size": 8,
    "ae_epochs": 5,
    "ae_latent": 4,
    "ae_width": 4,
}


def unfused_cls_rows(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """timm's own attention probabilities of the last block (unfused path, read at attn_drop)."""
    m: Any = model
    attn = m.blocks[-1].attn
    seen: list[torch.Tensor] = []
    was = attn.fused_attn
    attn.fused_attn = False
    handle = attn.attn_drop.register_forward_hook(lambda _m, _a, out: seen.append(out))
    try:
        with torch.no_grad():
            model.eval()(x)
    finally:
        handle.remove()
        attn.fused_attn = was
    rows = seen[-1][:, :, 0, m.num_prefix_tokens :].mean(dim=1)  # [B, P]
    return rows / rows.sum(dim=1, keepdim=True)


@pytest.mark.parametrize("arch", ["vit_tiny_patch16_224", "deit_tiny_distilled_patch16_224"])
def test_cls_attention_matches_timm_unfused(arch: str) -> None:
    torch.manual_seed(0)
    model: Any = timm.create_model(arch, pretrained=False, num_classes=2, img_size=32, **VIT_KW)
    got: list[torch.Tensor] = []
    prefix = int(model.num_prefix_tokens)  # 2 for the distilled DeiT (CLS + distillation)
    model.blocks[-1].attn.register_forward_pre_hook(
        lambda mod, args: got.append(cls_attention(mod, args[0], prefix))
    )
    x = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        model.eval()(x)
    ref = unfused_cls_rows(model, x)
    assert got[0].shape == (3, 16)
    torch.testing.assert_close(got[0], ref, atol=1e-6, rtol=1e-5)
    assert not torch.allclose(ref, torch.full_like(ref, 1 / 16), atol=1e-4)  # not uniform


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, pd.DataFrame]:
    root = tmp_path_factory.mktemp("vit-data")
    return {
        "train": table(root, "train", 64, 0),
        "val": table(root, "val", 12, 1000),
        "test": table(root, "test", 32, 2000),
    }


@pytest.fixture(scope="module")
def trained(data: dict[str, pd.DataFrame]) -> ViTDetector:
    torch.manual_seed(0)
    return ViTDetector(TINY).fit(data["train"], data["val"])


def _batch(det: Detector, paths: list[str]) -> torch.Tensor:
    from fakescope.data.decode import load_image
    from fakescope.data.transforms import eval_transform

    tf = eval_transform(det.input_config)
    return torch.stack([tf(load_image(p)) for p in paths])


def test_registered() -> None:
    assert DETECTORS.get("vit") is ViTDetector


def test_attention_maps_match_timm_and_are_normalised(
    trained: ViTDetector, data: dict[str, pd.DataFrame]
) -> None:
    x = _batch(trained, data["test"][PATH].tolist()[:6])
    grid = trained.attention_grid(x)
    assert grid.shape == (6, 4, 4)
    torch.testing.assert_close(grid.sum(dim=(1, 2)), torch.ones(6), atol=1e-5, rtol=0)
    ref = unfused_cls_rows(trained.model_, x.to(memory_format=torch.channels_last))  # type: ignore[arg-type]
    torch.testing.assert_close(grid.reshape(6, 16), ref, atol=1e-5, rtol=1e-4)
    maps = trained.attention_maps(x)
    assert maps.shape == (6, 1, 32, 32) and bool((maps >= 0).all())
    # bilinear upsampling keeps the per-patch mass: each 8x8 block averages close to its grid value
    pooled = torch.nn.functional.avg_pool2d(maps, 8)[:, 0]
    torch.testing.assert_close(pooled.mean(dim=(1, 2)), grid.mean(dim=(1, 2)), atol=2e-3, rtol=0.05)


def test_learns_and_gives_residuals(trained: ViTDetector, data: dict[str, pd.DataFrame]) -> None:
    test = data["test"]
    p = trained.predict_proba(test[PATH].tolist())
    assert roc_auc_score(test[LABEL], p) > 0.75  # the checkerboard trace is learnt
    f = trained.features(test[PATH].tolist())
    res = f.extras[RESIDUAL]
    assert res.shape == (len(test), 1, 8, 8)
    assert np.isfinite(res).all() and (res >= 0).all() and res.max() > 0
    assert f.embedding.shape == (len(test), 32) and trained.embedding_dim == 32


def test_bundle_round_trip(
    trained: ViTDetector, data: dict[str, pd.DataFrame], tmp_path: Path
) -> None:
    paths = data["test"][PATH].tolist()[:8]
    loaded = Detector.load(trained.save(tmp_path / "vit"))
    assert isinstance(loaded, ViTDetector) and loaded.ae_ is not None
    a, b = trained.features(paths), loaded.features(paths)
    np.testing.assert_allclose(a.proba, b.proba, atol=1e-6)
    np.testing.assert_allclose(a.extras[RESIDUAL], b.extras[RESIDUAL], atol=1e-6)


def test_abnormality_module_consumes_the_residual(
    trained: ViTDetector, data: dict[str, pd.DataFrame]
) -> None:
    scorer = AbnormalityScorer(epochs=2, hidden=[16], batch_size=32)
    scorer.fit_detector(trained, data["train"][PATH].tolist()[:24])
    assert scorer.layout_["residual_channels"] == 1
    s = scorer.score(trained.features(data["test"][PATH].tolist()[:6]))
    assert s.shape == (6,) and np.isfinite(s).all()


def test_vae_and_no_autoencoder(data: dict[str, pd.DataFrame]) -> None:
    small = data["train"].iloc[:16]
    vae = ViTDetector({**TINY, "epochs": 1, "ae": "vae"}).fit(small)
    assert RESIDUAL in vae.features(small[PATH].tolist()[:4]).extras
    plain = ViTDetector({**TINY, "epochs": 1, "ae": "none"}).fit(small)
    assert plain.ae_ is None and RESIDUAL not in plain.features(small[PATH].tolist()[:4]).extras


def test_bad_settings_are_one_line_errors() -> None:
    with pytest.raises(ConfigError, match="logit loss"):
        ViTDetector({**TINY, "loss": "triplet"})
    with pytest.raises(ConfigError, match="multiple of 4"):
        ViTDetector({**TINY, "ae_size": 10})
    with pytest.raises(ConfigError, match="img_size"):
        ViTDetector({**TINY, "model_kwargs": {**VIT_KW, "img_size": 64}})
    with pytest.raises(ConfigError, match="timm VisionTransformer"):
        ViTDetector({**TINY, "arch": "resnet18", "model_kwargs": {}})
    with pytest.raises(ConfigError, match="timm VisionTransformer"):
        ViTDetector({**TINY, "arch": "vit_tiny_patch16_224", "model_kwargs": {"patch_sz": 8}})
