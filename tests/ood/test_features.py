"""One-pass Features from detectors (base default, probe, cnn) and the ODIN hook."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from sklearn.linear_model import LogisticRegression

from fakescope.data.schema import Sample, make_table
from fakescope.detectors.cnn import CNNDetector
from fakescope.detectors.features import sklearn_head_logits
from fakescope.detectors.probe import ProbeDetector
from fakescope.errors import FakescopeError
from fakescope.ood.catalog import create_scorer
from fakescope.ood.odin import ODINScorer
from tests.conftest import write_image


def tiny_table(root: Path, n: int = 24, offset: int = 0) -> pd.DataFrame:
    """``n`` 32-px PNGs, even rows real, odd rows fake (two generators)."""
    rows = []
    for i in range(n):
        fake = i % 2 == 1
        path = write_image(root / f"{offset + i}.png", seed=offset + i, fake=fake, fmt="PNG")
        rows.append(Sample(str(path), int(fake), ("g1" if i % 4 == 1 else "g2") if fake else ""))
    return make_table(rows)


def probe_params(**extra: Any) -> dict[str, Any]:
    base = {
        "backbone": "timm:test_resnet",
        "pretrained": False,
        "img_size": 32,
        "num_workers": 0,
        "batch_size": 8,
        "cache_dir": None,
    }
    return {**base, **extra}


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    return tiny_table(tmp_path_factory.mktemp("feat"))


@pytest.fixture(scope="module")
def probe(data: pd.DataFrame) -> ProbeDetector:
    return ProbeDetector(probe_params(target="generator")).fit(data)


def test_sklearn_head_logits_softmax_is_predict_proba() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 4))
    for y in (np.arange(60) % 3, np.arange(60) % 2):
        head = LogisticRegression().fit(x, y)
        c = len(np.unique(y))
        lg = sklearn_head_logits(head, x, c, head.predict_proba(x))
        p = np.exp(lg - lg.max(1, keepdims=True))
        np.testing.assert_allclose(p / p.sum(1, keepdims=True), head.predict_proba(x), rtol=1e-4)


def test_probe_features_match_predict_and_embed(
    probe: ProbeDetector, data: pd.DataFrame, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    paths = [*data.path.tolist()[:6], str(bad)]
    f = probe.features(paths)
    assert f.proba.shape == (7, 3) and f.embedding.shape == (7, probe.embedding_dim)
    np.testing.assert_allclose(f.proba[:6], probe.predict(paths[:6]).proba, rtol=1e-5)
    np.testing.assert_allclose(f.embedding[:6], probe.embed(paths[:6]), rtol=1e-5)
    soft = torch.softmax(torch.from_numpy(f.logits[:6]), 1).numpy()
    np.testing.assert_allclose(soft, f.proba[:6], rtol=1e-4, atol=1e-6)
    assert f.errors[6] and np.isnan(f.proba[6]).all() and list(f.ok) == [True] * 6 + [False]
    imgs = [Image.open(p).convert("RGB") for p in paths[:3]]
    fi = probe.features_images(imgs)
    np.testing.assert_allclose(fi.logits, f.logits[:3], rtol=1e-4, atol=1e-5)


def test_probe_differentiable_logits_equal_features(
    probe: ProbeDetector, data: pd.DataFrame
) -> None:
    paths = data.path.tolist()[:4]
    f = probe.features(paths)
    from fakescope.data.transforms import eval_transform

    t = eval_transform(probe.input_config)
    x = torch.stack([t(Image.open(p).convert("RGB")) for p in paths])
    lg = probe.differentiable_logits(x).detach().numpy()
    np.testing.assert_allclose(lg, f.logits, rtol=1e-3, atol=1e-3)


def test_odin_through_a_detector_lands_in_extras(probe: ProbeDetector, data: pd.DataFrame) -> None:
    odin = ODINScorer()
    f = probe.features(data.path.tolist()[:5], input_scorers=[odin])
    s = odin.fit(f).score(f)
    assert s.shape == (5,) and np.isfinite(s).all() and (s <= -1 / 3 + 1e-9).all()
    assert (s >= -1.0).all()


def test_odin_needs_a_differentiable_path(data: pd.DataFrame) -> None:
    det = ProbeDetector(probe_params(head="knn")).fit(data)
    with pytest.raises(FakescopeError, match="no differentiable"):
        det.features(data.path.tolist()[:2], input_scorers=[create_scorer("odin")])


def test_cnn_features_one_pass(data: pd.DataFrame) -> None:
    det = CNNDetector(
        {
            "arch": "test_resnet",
            "img_size": 32,
            "epochs": 1,
            "batch_size": 8,
            "num_workers": 0,
            "progress": False,
        }
    ).fit(data)
    paths = data.path.tolist()[:5]
    f = det.features(paths)
    np.testing.assert_allclose(f.proba, det.predict(paths).proba, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(f.embedding, det.embed(paths), rtol=1e-5, atol=1e-6)
    soft = torch.softmax(torch.from_numpy(f.logits), 1).numpy()
    np.testing.assert_allclose(soft, f.proba, rtol=1e-4, atol=1e-6)
    odin = ODINScorer(temperature=1000.0, eps=0.0012)
    g = det.features(paths, input_scorers=[odin])
    assert np.isfinite(g.extras[odin.extra_key]).all()
