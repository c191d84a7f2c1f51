"""The ``unet`` scorer: learns a toy fake trace, reconstructs, exposes residuals and confidence."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.metrics import roc_auc_score

from fakescope.detectors.catalog import DETECTORS, Detector
from fakescope.detectors.unet_scorer import RESIDUAL, UNetScorerDetector
from fakescope.errors import ConfigError
from fakescope.models.unet_scorer import UNetScorer
from tests.detectors.test_cnn import table

TINY: dict[str, Any] = {
    "img_size": 32,
    "width": 4,
    "depth": 2,
    "mlp_hidden": 32,
    "batch_size": 8,
    "num_workers": 0,
    "progress": False,
    "epochs": 8,
    "lr": 1e-2,
    "cutmix_prob": 0.3,
    "patience": None,
}


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, pd.DataFrame]:
    root = tmp_path_factory.mktemp("unet-data")
    return {
        "train": table(root, "train", 48, 0),
        "val": table(root, "val", 12, 1000),
        "test": table(root, "test", 24, 2000),
    }


@pytest.fixture(scope="module")
def plain(data: dict[str, pd.DataFrame]) -> UNetScorerDetector:
    """The thesis's scorer without the confidence branch (8 epochs)."""
    return UNetScorerDetector(TINY).fit(data["train"], data["val"])


@pytest.fixture(scope="module")
def trained(data: dict[str, pd.DataFrame]) -> UNetScorerDetector:
    """The confidence-branch variant, trained briefly (its outputs, not its accuracy, are tested)."""
    det = UNetScorerDetector({**TINY, "confidence": True, "epochs": 2})
    return det.fit(data["train"], data["val"])


def test_registered_and_validates_sizes() -> None:
    assert DETECTORS.get("unet") is UNetScorerDetector
    assert UNetScorerDetector(TINY).embedding_dim == 16
    with pytest.raises(ConfigError, match="divisible by 2\\^depth"):
        UNetScorerDetector({**TINY, "img_size": 36, "depth": 3})


def test_model_shapes_and_mlp_depth() -> None:
    net = UNetScorer(1, width=4, depth=2, mlp_hidden=32, confidence=True).eval()
    with torch.no_grad():
        out = net(torch.rand(3, 3, 16, 24))
    assert out.logits.shape == (3, 1) and out.embedding.shape == (3, 16)
    assert out.reconstruction.shape == (3, 3, 16, 24)
    assert float(out.reconstruction.min()) >= 0 and float(out.reconstruction.max()) <= 1
    assert out.confidence_logit is not None and out.confidence_logit.shape == (3,)
    linears = [m for m in [*net.hidden, net.head] if isinstance(m, torch.nn.Linear)]
    assert len(linears) == 5
    dropouts = [m for m in net.hidden if isinstance(m, torch.nn.Dropout)]
    assert len(dropouts) == 4 and all(d.p == 0.3 for d in dropouts)


def test_learns_the_toy_fake_trace(
    plain: UNetScorerDetector, data: dict[str, pd.DataFrame]
) -> None:
    test = data["test"]
    p = plain.predict_proba(test["path"].tolist())
    assert roc_auc_score(test["label"].to_numpy(), p) > 0.8
    assert plain.features(test["path"].tolist()[:2]).confidence is None  # no branch


def test_reconstruction_loss_decreases(plain: UNetScorerDetector) -> None:
    assert plain.fit_result_ is not None
    recon = [row["recon_loss"] for row in plain.fit_result_.history]
    assert recon[-1] < 0.8 * recon[0]


def test_features_expose_residual_and_confidence(
    trained: UNetScorerDetector, data: dict[str, pd.DataFrame]
) -> None:
    paths = data["test"]["path"].tolist()[:6]
    feats = trained.features(paths)
    assert feats.embedding.shape == (6, 16) and feats.logits.shape == (6, 2)
    assert np.allclose(feats.proba.sum(1), 1.0, atol=1e-5)
    assert feats.extras[RESIDUAL].shape == (6, 1, 32, 32)
    assert feats.confidence is not None and ((feats.confidence > 0) & (feats.confidence < 1)).all()
    # residual = (reconstruction - x)^2 at full size, recomputed independently
    from fakescope.data.decode import load_image
    from fakescope.data.transforms import eval_transform

    x = torch.stack([eval_transform(trained.input_config)(load_image(p)) for p in paths])
    out = trained.outputs(x)
    hand = ((out.reconstruction - x) ** 2).mean(1, keepdim=True).numpy()
    assert np.allclose(feats.extras[RESIDUAL], hand, atol=1e-5)
    # softmax(logits) == proba (bce's one logit z becomes [0, z])
    soft = np.exp(feats.logits) / np.exp(feats.logits).sum(1, keepdims=True)
    assert np.allclose(soft, feats.proba, atol=1e-5)


def test_bundle_round_trip(
    trained: UNetScorerDetector, data: dict[str, pd.DataFrame], tmp_path: Path
) -> None:
    paths = data["test"]["path"].tolist()
    trained.save(tmp_path / "b")
    loaded = Detector.load(tmp_path / "b")
    assert isinstance(loaded, UNetScorerDetector)
    assert np.allclose(loaded.predict_proba(paths), trained.predict_proba(paths), atol=1e-6)
    a, b = loaded.features(paths[:4]), trained.features(paths[:4])
    assert a.confidence is not None and b.confidence is not None
    assert np.allclose(a.confidence, b.confidence, atol=1e-6)
