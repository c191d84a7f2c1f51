"""The ``general`` detector: frozen multi-block taps + NPR branch + head.

Uses timm's ``test_efficientnet`` (a 0.1M-parameter random EfficientNet) at 32 px,
so fits take seconds.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from sklearn.metrics import roc_auc_score

from fakescope.data.schema import Sample, make_table
from fakescope.detectors.catalog import DETECTORS, Detector
from fakescope.detectors.general import GeneralDetector
from fakescope.errors import ConfigError
from fakescope.models.general_net import GeneralNet
from fakescope.models.intermediate import IntermediateTaps, create_frozen_timm, pool_map

BASE: dict[str, Any] = {
    "backbone": "test_efficientnet",
    "pretrained": False,
    "img_size": 32,
    "batch_size": 8,
    "num_workers": 0,
    "progress": False,
    "tap_dim": 16,
    "npr_channels": 8,
    "hidden": 16,
    "lr": 3e-3,
    "patience": 0,
    "augment": {"hflip": True, "crop": "none"},
}


@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def toy_image(path: Path, seed: int, fake: bool, size: int = 32) -> Path:
    """A smooth random image; fakes are made at half size and nearest-up-sampled 2x.

    Both classes come from the same smooth-noise process at the same size and format,
    so the only difference is the 2x2 block structure of the up-sampler (the NPR trace).
    """
    rng = np.random.default_rng(seed)
    side = size // 2 if fake else size
    coarse = rng.normal(128, 50, (side // 4 + 1, side // 4 + 1, 3))
    img = Image.fromarray(np.clip(coarse, 0, 255).astype(np.uint8)).resize(
        (side, side), Image.Resampling.BICUBIC
    )
    arr = np.asarray(img, dtype=np.float64) + rng.normal(0, 6, (side, side, 3))
    if fake:
        arr = np.kron(arr, np.ones((2, 2, 1)))
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8)).save(path, format="PNG")
    return path


def toy_table(root: Path, split: str, n: int, offset: int) -> pd.DataFrame:
    rows = []
    for i in range(n):
        fake = i % 2 == 1
        path = toy_image(root / split / f"{i}.png", offset + i, fake)
        rows.append(Sample(str(path), int(fake), generator="up2x" if fake else "", split=split))
    return make_table(rows)


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, pd.DataFrame]:
    root = tmp_path_factory.mktemp("general-data")
    return {
        "train": toy_table(root, "train", 48, 0),
        "val": toy_table(root, "val", 12, 1000),
        "test": toy_table(root, "test", 32, 2000),
    }


@pytest.fixture(scope="module")
def fitted(data: dict[str, pd.DataFrame]) -> GeneralDetector:
    det = GeneralDetector({**BASE, "epochs": 6})
    return det.fit(data["train"], data["val"])


def test_registered() -> None:
    assert DETECTORS.get("general") is GeneralDetector
    p = GeneralDetector().params
    assert p.resize == "crop" and p.augment.blur_prob == 0.5 and p.augment.jpeg_prob == 0.5


def test_pool_map_matches_hand_computation() -> None:
    x = torch.arange(2 * 3 * 4 * 5, dtype=torch.float32).reshape(2, 3, 4, 5) ** 1.5
    flat = x.numpy().reshape(2, 3, -1)
    out = pool_map(x, "meanstd").numpy()
    assert out.shape == (2, 6)
    np.testing.assert_allclose(out[:, :3], flat.mean(axis=2), rtol=1e-5)
    np.testing.assert_allclose(out[:, 3:], flat.std(axis=2), rtol=1e-4)
    assert pool_map(x, "mean").shape == (2, 3)


def test_taps_return_documented_shapes() -> None:
    torch.manual_seed(0)
    model = create_frozen_timm("test_efficientnet", pretrained=False)
    taps = IntermediateTaps(model, [1, 3], final=True, pool="meanstd")
    x = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        _, maps = model.forward_intermediates(
            x, indices=[1, 3], intermediates_only=False, extra_blocks=True
        )
    out = taps(x)
    assert len(out) == 3 == len(taps.widths)
    for t, w in zip(out, taps.widths, strict=True):
        assert t.shape == (3, w) and not t.requires_grad
    assert taps.widths[:2] == [2 * m.shape[1] for m in maps]
    assert taps.widths[2] == 2 * model.num_features  # the final (head) map
    np.testing.assert_allclose(out[0].numpy(), pool_map(maps[0], "meanstd").numpy(), rtol=1e-5)
    every = IntermediateTaps(model, None, final=False, pool="mean")
    assert len(every.widths) > 3 and all(w > 0 for w in every.widths)
    assert all(not p.requires_grad for p in taps.parameters())
    with pytest.raises(ConfigError, match="taps"):
        IntermediateTaps(model, [99])


def test_learns_the_upsampling_trace(
    fitted: GeneralDetector, data: dict[str, pd.DataFrame]
) -> None:
    test = data["test"]
    p = fitted.predict_proba(test["path"].tolist())
    auc = roc_auc_score(test["label"], p)
    assert auc > 0.85, f"test AUC {auc:.3f}: the up-sampling trace was not learnt"
    assert fitted.classes_ == ["real", "fake"]


def test_features_are_one_consistent_pass(
    fitted: GeneralDetector, data: dict[str, pd.DataFrame]
) -> None:
    paths = data["test"]["path"].tolist()[:6]
    feats = fitted.features(paths)
    pred = fitted.predict(paths)
    assert feats.embedding.shape == (6, fitted.embedding_dim) == (6, 32)
    np.testing.assert_allclose(feats.proba, pred.proba, atol=1e-6)
    soft = np.exp(feats.logits) / np.exp(feats.logits).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(soft, feats.proba, atol=1e-5)
    np.testing.assert_allclose(feats.embedding, fitted.embed(paths), atol=1e-6)


def test_save_load_round_trip(
    fitted: GeneralDetector, data: dict[str, pd.DataFrame], tmp_path: Path
) -> None:
    paths = data["test"]["path"].tolist()
    fitted.save(tmp_path / "bundle")
    loaded = Detector.load(tmp_path / "bundle")
    assert isinstance(loaded, GeneralDetector) and loaded.params == fitted.params
    assert loaded.threshold_ == fitted.threshold_
    np.testing.assert_array_equal(loaded.predict(paths).proba, fitted.predict(paths).proba)


def test_fit_keeps_the_backbone_frozen(data: dict[str, pd.DataFrame], tmp_path: Path) -> None:
    from fakescope.data.augment import AugmentConfig, train_transform
    from fakescope.losses.catalog import create_loss
    from fakescope.train.dataset import SampleDataset
    from fakescope.train.fit import FitSettings, fit_module
    from fakescope.train.module import ClassifierModule

    det = GeneralDetector(BASE)
    torch.manual_seed(0)
    net: GeneralNet = det.new_network(2)
    before = {k: v.clone() for k, v in net.taps.state_dict().items()}
    head_before = {k: v.clone() for k, v in net.head.state_dict().items()}
    train = data["train"]
    cfg = det.input_config
    ds = SampleDataset(
        train["path"].tolist(),
        train["label"].to_numpy(),
        train_transform(cfg, AugmentConfig()),
        (3, cfg.size, cfg.size),
    )
    module = ClassifierModule(net, 2, loss=create_loss("ce", None, 2, 2), lr=1e-2)
    settings = FitSettings(epochs=2, batch_size=8, num_workers=0, progress=False, patience=None)
    fit_module(module, ds, None, settings, tmp_path / "work", {"test": "frozen"})
    after = net.taps.state_dict()
    assert set(after) == set(before) and any("running_mean" in k for k in after)
    for k, v in before.items():
        assert torch.equal(after[k], v), f"frozen backbone tensor {k} changed during fit"
    changed = [k for k, v in net.head.state_dict().items() if not torch.equal(v, head_before[k])]
    assert changed, "the trainable head did not change: the fit did nothing"


def test_branch_input_npr_ignores_what_pixels_sees() -> None:
    """The NPR branch sees only x - up(down(x)): two nearest-up-sampled images with different
    content give the same features (their residual is 0); the pixel branch tells them apart."""
    from fakescope.models.general_net import NPRBranch

    torch.manual_seed(0)
    small = torch.rand(2, 3, 8, 8)
    x = torch.nn.functional.interpolate(small, scale_factor=2, mode="nearest")  # [2, 3, 16, 16]
    npr = NPRBranch(4, 8, residual=True).eval()
    pixels = NPRBranch(4, 8, residual=False).eval()
    with torch.no_grad():
        a, b = npr(x)
        c, d = pixels(x)
    assert torch.allclose(a, b, atol=1e-6)
    assert not torch.allclose(c, d, atol=1e-3)
