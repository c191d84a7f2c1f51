"""Heads: registry, parameter validation, probabilities, and pickle-free save/load."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import skops.io as sio
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from fakescope.detectors.heads import (
    HEADS,
    check_head_params,
    file_types,
    fit_head,
    head_proba,
    load_head,
    save_head,
)
from fakescope.errors import BundleError, ConfigError, DataError

FAST = {
    "logistic": {},
    "random_forest": {"n_estimators": 10, "n_jobs": 1},
    "svm_rbf": {"cv": 3},
    "knn": {"n_neighbors": 3},
}


def blobs(
    n: int = 60, d: int = 8, classes: int = 2, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Separable Gaussian blobs: X [n, d] float32, y [n] in 0..classes-1."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % classes
    x = rng.normal(0, 1, (n, d)) + 3.0 * np.eye(classes, d)[y]
    return x.astype(np.float32), y


def test_registry_lists_the_four_heads() -> None:
    assert HEADS.names() == sorted(FAST)


@pytest.mark.parametrize("name", sorted(FAST))
@pytest.mark.parametrize("classes", [2, 3])
def test_every_head_gives_probabilities(name: str, classes: int) -> None:
    x, y = blobs(classes=classes)
    head = fit_head(name, FAST[name], x, y)
    p = head_proba(head, x, classes)
    assert p.shape == (len(x), classes)
    assert np.all((p >= 0) & (p <= 1))
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-5)
    assert (p.argmax(axis=1) == y).mean() > 0.9


def test_nan_rows_stay_nan_and_missing_class_gets_zero() -> None:
    x, y = blobs()
    head = fit_head("logistic", {}, x, y)
    x2 = x[:4].copy()
    x2[1] = np.nan
    p = head_proba(head, x2, 3)  # a third class never seen in training
    assert np.isnan(p[1]).all()
    assert np.all(p[[0, 2, 3], 2] == 0)
    np.testing.assert_allclose(p[[0, 2, 3]].sum(axis=1), 1.0, atol=1e-5)


def test_unknown_head_param_is_a_one_line_error() -> None:
    with pytest.raises(ConfigError, match="unknown logistic head parameter 'n_trees'") as info:
        check_head_params("logistic", {"n_trees": 3})
    assert "\n" not in str(info.value)
    with pytest.raises(ConfigError, match="invalid knn head parameter 'n_neighbors'"):
        check_head_params("knn", {"n_neighbors": 0})


def test_one_class_is_refused() -> None:
    x, _ = blobs()
    with pytest.raises(DataError, match="two classes"):
        fit_head("logistic", {}, x, np.zeros(len(x), dtype=np.int64))


def test_knn_caps_k_at_training_size() -> None:
    x, y = blobs(n=4)
    head = fit_head("knn", {"n_neighbors": 50}, x, y)
    assert head.named_steps["head"].n_neighbors == 4


@pytest.mark.parametrize("name", sorted(FAST))
@pytest.mark.parametrize("standardize", [True, False])
def test_save_load_round_trip_is_identical(name: str, standardize: bool, tmp_path: Path) -> None:
    x, y = blobs(classes=3)
    head = fit_head(name, FAST[name], x, y, standardize=standardize)
    path = save_head(head, tmp_path / "head.skops")
    assert [p.name for p in tmp_path.iterdir()] == ["head.skops"]  # no temp file left behind
    loaded = load_head(path)
    np.testing.assert_array_equal(loaded.predict_proba(x), head.predict_proba(x))


def test_knn_euclidean_round_trip(tmp_path: Path) -> None:
    x, y = blobs()
    head = fit_head("knn", {"metric": "euclidean"}, x, y)
    loaded = load_head(save_head(head, tmp_path / "h.skops"))
    np.testing.assert_array_equal(loaded.predict_proba(x), head.predict_proba(x))


def test_non_allow_listed_type_is_refused(tmp_path: Path) -> None:
    x, y = blobs()
    evil = Pipeline(
        [("scaler", FunctionTransformer(np.exp)), ("head", fit_head("logistic", {}, x, y))]
    )
    evil.fit(x, y)
    path = tmp_path / "evil.skops"
    sio.dump(evil, path)
    assert "sklearn.preprocessing._function_transformer.FunctionTransformer" in file_types(path)
    with pytest.raises(BundleError, match="not on fakescope's allow-list"):
        load_head(path)


def test_garbage_and_missing_head_files_are_refused(tmp_path: Path) -> None:
    bad = tmp_path / "head.skops"
    bad.write_bytes(b"\x80\x04 not a zip")
    with pytest.raises(BundleError, match="not a readable head file"):
        load_head(bad)
    with pytest.raises(BundleError, match="missing"):
        load_head(tmp_path / "absent.skops")
