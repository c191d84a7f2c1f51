"""The ``cnn`` detector with every loss, the NPR input filter, and the loss-related settings.

Uses timm's ``test_resnet`` (a tiny random ResNet; ``resnet18`` for NPR) at 32 px,
1-3 epochs on a few dozen PNGs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score
from torch import nn

from fakescope.detectors.catalog import Detector
from fakescope.detectors.cnn import HEAD_FILE, CNNDetector
from fakescope.errors import ConfigError, DataError
from fakescope.losses.catalog import create_loss
from fakescope.losses.dmyt import DmytLoss
from fakescope.models.npr import NPRNet
from fakescope.train.module import ClassifierModule
from tests.detectors.test_cnn import BASE, table

#: Per loss: extra params and the expected embedding width (test_resnet pools 96 features).
CASES: dict[str, tuple[dict[str, Any], int]] = {
    "ce": ({}, 96),
    "bce": ({"class_weights": "balanced"}, 96),
    "dmyt": ({"embed_dim": 8, "class_weights": [1.0, 2.0]}, 8),
    "triplet": ({"loss_params": {"svm_per_class": 6}}, 96),
}


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, pd.DataFrame]:
    root = tmp_path_factory.mktemp("cnn-loss-data")
    return {
        "train": table(root, "train", 24, 0),
        "val": table(root, "val", 8, 1000),
        "test": table(root, "test", 12, 2000),
    }


@pytest.mark.parametrize("loss", list(CASES))
def test_each_loss_fits_predicts_and_round_trips(
    loss: str, data: dict[str, pd.DataFrame], tmp_path: Path
) -> None:
    extra, dim = CASES[loss]
    det = CNNDetector({**BASE, "epochs": 1, "loss": loss, **extra})
    det.fit(data["train"], data["val"])
    paths = data["test"]["path"].tolist()
    pred = det.predict(paths)
    assert pred.classes == ["real", "fake"] and pred.proba.shape == (12, 2)
    assert np.allclose(pred.proba.sum(axis=1), 1.0, atol=1e-5) and (pred.proba >= 0).all()
    emb = det.embed(paths[:3])
    assert det.embedding_dim == dim and emb.shape == (3, dim)
    history = det.fit_result_.history[-1] if det.fit_result_ else {}
    assert "val_loss" in history and (("val_auc" in history) != (loss == "triplet"))
    det.save(tmp_path / "bundle")
    assert (tmp_path / "bundle" / HEAD_FILE).is_file() == (loss == "triplet")
    loaded = Detector.load(tmp_path / "bundle")
    assert isinstance(loaded, CNNDetector) and loaded.params == det.params
    assert np.array_equal(loaded.predict(paths).proba, pred.proba)
    assert np.array_equal(loaded.embed(paths[:3]), emb)


def test_dmyt_learns_the_fake_trace_and_predicts_from_dummies(
    data: dict[str, pd.DataFrame],
) -> None:
    det = CNNDetector({**BASE, "epochs": 3, "loss": "dmyt", "embed_dim": 16})
    det.fit(data["train"], data["val"])
    test = data["test"]
    p = det.predict_proba(test["path"].tolist())
    assert roc_auc_score(test["label"], p) > 0.8
    assert isinstance(det.loss_, DmytLoss)
    f = det.embed(test["path"].tolist())  # the embedding the dummies score
    scores = f @ (det.loss_.dummies / det.loss_.dummies.sum(1, keepdim=True)).T.cpu().numpy()
    proba = det.predict(test["path"].tolist()).proba
    assert np.array_equal(proba.argmax(axis=1), scores.argmax(axis=1))


def test_attribution_with_dmyt_root_and_triplet(data: dict[str, pd.DataFrame]) -> None:
    root = Path(data["train"]["path"].iloc[0]).parents[1] / "multi"
    train = table(root, "train", 18, 0, gens=("gen_b", "gen_a"))
    paths = data["test"]["path"].tolist()[:4]
    for loss, extra in (("dmyt", {"loss_params": {"root_dummy": True}}), ("triplet", {})):
        det = CNNDetector({**BASE, "target": "generator", "loss": loss, **extra})
        det.fit(train)
        pred = det.predict(paths)
        assert det.classes_ == ["real", "gen_a", "gen_b"] and pred.proba.shape == (4, 3)
        assert np.allclose(pred.proba.sum(axis=1), 1.0, atol=1e-5)
    with pytest.raises(ConfigError, match="bce needs 2 classes"):
        CNNDetector({**BASE, "target": "generator", "loss": "bce"}).fit(train)
    with pytest.raises(ConfigError, match="DmyT with 3 classes needs embed_dim >= 3"):
        CNNDetector({**BASE, "target": "generator", "loss": "dmyt", "embed_dim": 2}).fit(train)


def test_triplet_needs_two_images_per_class(data: dict[str, pd.DataFrame]) -> None:
    train = pd.concat([data["train"].iloc[::2].iloc[:5], data["train"].iloc[1:2]])  # 1 fake
    with pytest.raises(DataError, match="loss=triplet needs >= 2 training images"):
        CNNDetector({**BASE, "loss": "triplet"}).fit(train)


def test_npr_filter_wraps_the_network_and_round_trips(
    data: dict[str, pd.DataFrame], tmp_path: Path
) -> None:
    det = CNNDetector({**BASE, "arch": "resnet18", "epochs": 1, "input_filter": "npr"})
    det.fit(data["train"])
    assert isinstance(det.model_, NPRNet) and det.embedding_dim == 512
    assert det.embed(data["test"]["path"].tolist()[:2]).shape == (2, 512)
    paths = data["test"]["path"].tolist()
    proba = det.predict(paths).proba
    assert np.allclose(proba.sum(axis=1), 1.0, atol=1e-5)
    loaded = Detector.load(det.save(tmp_path / "npr"))
    assert np.array_equal(loaded.predict(paths).proba, proba)


def test_loss_settings_are_validated() -> None:
    assert CNNDetector().params.loss == "ce" and CNNDetector().params.input_filter == "none"
    with pytest.raises(ConfigError, match="unknown loss 'focal'"):
        CNNDetector({"loss": "focal"})
    with pytest.raises(ConfigError, match="unknown dmyt loss parameter 'margn'"):
        CNNDetector({"loss": "dmyt", "loss_params": {"margn": 1}})
    with pytest.raises(ConfigError, match="embed_dim only applies to embedding losses"):
        CNNDetector({"embed_dim": 8})
    with pytest.raises(ConfigError, match="set monitor=val_loss"):
        CNNDetector({"loss": "triplet", "monitor": "val_auc"})
    with pytest.raises(ConfigError, match="input_filter"):
        CNNDetector({"input_filter": "fft"})
    assert CNNDetector({"arch": "test_resnet", "loss": "dmyt"}).embedding_dim == 96
    assert CNNDetector({"arch": "test_resnet", "loss": "dmyt", "embed_dim": 12}).embedding_dim == 12


def _linear(k: int) -> nn.Module:
    """A stand-in network: images [B, 3, 8, 8] -> [B, k]."""
    return nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, k))


def test_classifier_module_takes_a_loss() -> None:
    loss = create_loss("bce", None, 2, 8)
    module = ClassifierModule(_linear(1), 2, loss=loss)
    assert module.criterion is loss
    with pytest.raises(ValueError, match="pass class_weights to the loss"):
        ClassifierModule(_linear(1), 2, loss=loss, class_weights=[1.0, 2.0])
    with pytest.raises(ValueError, match="the loss is for 3 classes, not 2"):
        ClassifierModule(_linear(2), 2, loss=create_loss("ce", None, 3, 8))
    default = ClassifierModule(_linear(2), 2, class_weights=[1.0, 3.0]).criterion
    assert default.name == "ce" and default.class_weights.tolist() == [1.0, 3.0]
