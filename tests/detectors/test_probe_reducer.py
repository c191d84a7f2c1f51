"""The probe's S2b autoencoder reducer: head on codes, train-only fit, bundles, every head."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image
from safetensors.torch import load_file

from fakescope.data.schema import Sample, make_table
from fakescope.detectors.catalog import Detector
from fakescope.detectors.heads import head_proba
from fakescope.detectors.probe import ProbeDetector
from fakescope.errors import BundleError, ConfigError
from tests.conftest import write_image

CODE = 8
Tables = tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]


def params(cache: Path | None, **extra: Any) -> dict[str, Any]:
    """Random-init timm test_resnet (D=96) at 32 px; an 8-d reducer trained for a few epochs."""
    base = {
        "backbone": "timm:test_resnet",
        "pretrained": False,
        "img_size": 32,
        "num_workers": 0,
        "batch_size": 16,
        "cache_dir": None if cache is None else str(cache),
        "reduce_dim": CODE,
        "reduce_hidden": 16,
        "reduce_epochs": 5,
    }
    return {**base, **extra}


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("probe-reducer")


@pytest.fixture(scope="module")
def data(root: Path) -> Tables:
    """36 tiny PNGs (half fake): 24 train, 6 val, 6 test."""
    samples = []
    for i in range(36):
        fake = i % 2 == 1
        path = write_image(root / "img" / f"{i:02d}.png", seed=i, fake=fake, fmt="PNG")
        split = "train" if i < 24 else ("val" if i < 30 else "test")
        samples.append(Sample(str(path), int(fake), "g" if fake else "", split=split))
    table = make_table(samples)
    return tuple(table[table.split == s].reset_index(drop=True) for s in ("train", "val", "test"))  # type: ignore[return-value]


@pytest.fixture(scope="module")
def fitted(root: Path, data: Tables) -> ProbeDetector:
    """A logistic probe on 8-d codes, threshold chosen on the val rows."""
    return ProbeDetector(params(root / "cache")).fit(data[0], data[1])


def test_head_is_fit_on_codes(fitted: ProbeDetector, data: Tables) -> None:
    reducer = fitted.reducer
    assert reducer is not None
    assert (reducer.in_dim, reducer.code_dim, reducer.hidden) == (96, CODE, 16)
    assert fitted._head is not None and fitted._head.n_features_in_ == CODE
    # embed (and the cache) still give the backbone's 96-d features
    assert fitted.embed(data[2].path.tolist()).shape == (6, 96)
    cache = fitted.embedding_cache()
    assert cache is not None and cache.dim == 96
    p = fitted.predict_proba(data[2].path.tolist())
    assert p.shape == (6,) and np.isfinite(p).all() and ((p >= 0) & (p <= 1)).all()


def test_reducer_is_trained_on_the_train_rows_only(fitted: ProbeDetector, data: Tables) -> None:
    reducer = fitted.reducer
    assert reducer is not None
    train_emb = fitted.embed(data[0].path.tolist())
    with_val = fitted.embed(pd.concat([data[0], data[1]]).path.tolist())
    np.testing.assert_allclose(reducer.mean.numpy(), train_emb.mean(0), rtol=1e-4, atol=1e-5)
    assert not np.allclose(reducer.mean.numpy(), with_val.mean(0), rtol=1e-4, atol=1e-5)


def test_predict_encodes_before_the_head(fitted: ProbeDetector, data: Tables) -> None:
    assert fitted._head is not None and fitted.reducer is not None
    emb = fitted.embed(data[2].path.tolist())
    expected = head_proba(fitted._head, fitted.reducer.encode_array(emb), 2)
    np.testing.assert_allclose(fitted.predict(data[2].path.tolist()).proba, expected, rtol=1e-6)
    batch = fitted.predict_images([Image.open(p) for p in data[2].path])
    np.testing.assert_allclose(batch.proba, expected, atol=1e-5)  # the batch hook encodes too


def test_bundle_round_trip(fitted: ProbeDetector, data: Tables, tmp_path: Path) -> None:
    out = fitted.save(tmp_path / "bundle")
    tensors = load_file(str(out / "model.safetensors"))
    reducer_keys = {k for k in tensors if k.startswith("reducer.")}
    assert {"reducer.mean", "reducer.std", "reducer.encoder.0.weight"} <= reducer_keys
    assert yaml.safe_load((out / "config.yaml").read_text())["params"]["reduce_dim"] == CODE
    loaded = Detector.load(out)
    assert isinstance(loaded, ProbeDetector) and loaded.reducer is not None
    assert loaded.threshold_ == fitted.threshold_
    paths = data[2].path.tolist()
    np.testing.assert_array_equal(loaded.predict(paths).proba, fitted.predict(paths).proba)


def test_bundle_with_mismatched_params_is_refused(fitted: ProbeDetector, tmp_path: Path) -> None:
    out = fitted.save(tmp_path / "bundle")
    config = yaml.safe_load((out / "config.yaml").read_text())
    config["params"]["reduce_hidden"] = 32
    (out / "config.yaml").write_text(yaml.safe_dump(config))
    with pytest.raises(BundleError, match="saved reducer is 96->8 \\(hidden 16\\)"):
        Detector.load(out)
    config["params"]["reduce_dim"] = None
    (out / "config.yaml").write_text(yaml.safe_dump(config))
    with pytest.raises(BundleError, match="reduce_dim is null"):
        Detector.load(out)


@pytest.mark.parametrize("head", ["logistic", "random_forest", "svm_rbf", "knn"])
def test_every_head_works_on_codes(root: Path, data: Tables, head: str) -> None:
    head_params = {"n_estimators": 10, "n_jobs": 1} if head == "random_forest" else {}
    det = ProbeDetector(params(root / "cache", head=head, head_params=head_params)).fit(data[0])
    assert det._head is not None and det._head.n_features_in_ == CODE
    proba = det.predict(data[2].path.tolist()).proba
    assert proba.shape == (6, 2) and np.isfinite(proba).all()
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-6)


def test_failed_file_stays_nan(fitted: ProbeDetector, data: Tables, tmp_path: Path) -> None:
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a png")
    pred = fitted.predict([data[2].path.iloc[0], str(broken)])
    assert np.isfinite(pred.proba[0]).all() and np.isnan(pred.proba[1]).all()


def test_no_reducer_by_default(root: Path, data: Tables) -> None:
    det = ProbeDetector(params(root / "cache", reduce_dim=None)).fit(data[0])
    assert det.reducer is None
    assert det._head is not None and det._head.n_features_in_ == 96


@pytest.mark.parametrize("dim", [96, 500])
def test_reduce_dim_not_below_the_embedding_size_is_a_config_error(
    root: Path, data: Tables, dim: int
) -> None:
    det = ProbeDetector(params(root / "cache", reduce_dim=dim))
    with pytest.raises(ConfigError, match=rf"reduce_dim {dim} must be smaller than .* 96") as info:
        det.fit(data[0])
    assert "\n" not in str(info.value)
    with pytest.raises(ConfigError, match="reduce_dim"):
        ProbeDetector(params(root / "cache", reduce_dim=0))
