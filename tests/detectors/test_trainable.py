"""The training template: seeded fits are exact, and a detector is a model factory plus a loss."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from sklearn.metrics import roc_auc_score
from torch import nn

from fakescope.data.schema import Sample, make_table
from fakescope.detectors.cnn import CNNDetector
from fakescope.detectors.general import GeneralDetector
from fakescope.detectors.trainable import TrainableDetector
from fakescope.errors import ConfigError
from fakescope.losses.base import Loss
from fakescope.losses.catalog import create_loss

#: Tiny, fast, deterministic training settings shared by the detectors below.
FAST: dict[str, Any] = {"img_size": 16, "batch_size": 8, "num_workers": 0, "progress": False}


class TinyConvDetector(TrainableDetector[nn.Module]):
    """A new trainable detector written as the template asks: a model factory plus a loss."""

    name = "tiny-conv"

    def _create(self, num_classes: int, *, start: bool = True) -> nn.Module:
        return nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1),
            nn.BatchNorm2d(8),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(8, num_classes),
        )

    def _make_loss(self, num_classes: int, class_weights: list[float] | None = None) -> Loss:
        return create_loss("ce", None, num_classes, num_classes, class_weights)


@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def brightness_table(root: Path, split: str, n: int, offset: int) -> pd.DataFrame:
    """``n`` noisy 16-px PNGs: even rows real (dark, mean 80), odd rows fake (bright, mean 170)."""
    rows = []
    for i in range(n):
        fake = i % 2 == 1
        rng = np.random.default_rng(offset + i)
        img = rng.normal(170.0 if fake else 80.0, 30.0, (16, 16, 3))
        path = root / split / f"{i}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(path)
        rows.append(Sample(str(path), int(fake), generator="g" if fake else "", split=split))
    return make_table(rows)


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, pd.DataFrame]:
    root = tmp_path_factory.mktemp("trainable-data")
    return {
        "train": brightness_table(root, "train", 24, 0),
        "val": brightness_table(root, "val", 8, 500),
        "test": brightness_table(root, "test", 16, 900),
    }


def test_a_tiny_cnn_fitted_twice_with_one_seed_has_identical_weights(
    data: dict[str, pd.DataFrame],
) -> None:
    params = {**FAST, "arch": "test_resnet", "epochs": 1, "lr": 0.01, "seed": 7}
    first = CNNDetector(params).fit(data["train"])
    second = CNNDetector(params).fit(data["train"])
    a, b = first.state_tensors(), second.state_tensors()
    assert a.keys() == b.keys() and len(a) > 10
    assert all(torch.equal(a[k], b[k]) for k in a)
    other = CNNDetector({**params, "seed": 8}).fit(data["train"])
    c = other.state_tensors()
    assert not all(torch.equal(a[k], c[k]) for k in a)  # the seed matters


def test_factory_plus_loss_detector_trains_and_beats_chance(
    data: dict[str, pd.DataFrame],
) -> None:
    det = TinyConvDetector({**FAST, "epochs": 8, "lr": 0.05, "patience": 0})
    det.fit(data["train"], data["val"])
    assert det.classes_ == ["real", "fake"] and det.fit_result_ is not None
    test = data["test"]
    p = det.predict_proba(test["path"].tolist())
    y = test["label"].to_numpy()
    assert roc_auc_score(y, p) > 0.9
    assert np.mean((p >= det.threshold_) == (y == 1)) >= 0.8
    emb = det.embed(test["path"].tolist()[:3])
    assert emb.shape == (3, det.embedding_dim) == (3, 2)  # default embedding: the logits


def test_balanced_and_explicit_class_weights() -> None:
    y = np.array([0, 0, 0, 1])
    assert TinyConvDetector()._class_weights(y, 2) is None
    balanced = TinyConvDetector({"class_weights": "balanced"})._class_weights(y, 2)
    assert balanced == pytest.approx([4 / 6, 4 / 2])
    assert TinyConvDetector({"class_weights": [1, 3]})._class_weights(y, 2) == [1.0, 3.0]
    with pytest.raises(ConfigError, match="class_weights has 3 values but there are 2 classes"):
        TinyConvDetector({"class_weights": [1, 2, 3]})._class_weights(y, 2)
    with pytest.raises(ConfigError, match="positive"):
        TinyConvDetector({"class_weights": [1, 0]})


def test_run_info_survives_its_json_round_trip() -> None:
    """A resume compares run.json (read back from JSON) with the new run info: tuples in the
    params (the augmentation's ranges) must already be lists, or no run could ever resume."""
    for det in (GeneralDetector(), TinyConvDetector()):
        info = det._run_info(["real", "fake"])
        assert json.loads(json.dumps(info)) == info
        assert "device" not in info and "num_workers" not in info
