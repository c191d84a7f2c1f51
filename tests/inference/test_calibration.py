"""Calibrator: lowers ECE on miscalibrated scores, monotone, conformal coverage, JSON round trip."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fakescope.errors import BundleError, DataError
from fakescope.eval.calibration import expected_calibration_error
from fakescope.inference.calibration import FILENAME, Calibrator, conformal_quantile, fit_band


def overconfident(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Scores p = sigmoid(3 logit(q)) of true fake probabilities q, and labels y ~ Bernoulli(q)."""
    rng = np.random.default_rng(seed)
    q = rng.beta(2, 2, n)
    y = (rng.uniform(0, 1, n) < q).astype(int)
    z = 3 * (np.log(q) - np.log1p(-q))
    return 1 / (1 + np.exp(-z)), y


@pytest.mark.parametrize("method", ["platt", "isotonic"])
def test_calibration_lowers_ece_on_held_out_data(method: str) -> None:
    p_val, y_val = overconfident(3000, seed=1)
    p_test, y_test = overconfident(20_000, seed=2)
    cal = Calibrator.fit(p_val, y_val, method=method)
    before = expected_calibration_error(y_test, p_test)
    after = expected_calibration_error(y_test, cal.transform(p_test))
    assert before > 0.08
    assert after < 0.03 and after < before / 3


def test_platt_recovers_the_temperature() -> None:
    p_val, y_val = overconfident(20_000, seed=3)
    cal = Calibrator.fit(p_val, y_val, method="platt")
    assert cal.params["a"] == pytest.approx(1 / 3, abs=0.03)  # undoes the factor 3
    assert cal.params["b"] == pytest.approx(0.0, abs=0.05)


@pytest.mark.parametrize("method", ["platt", "isotonic"])
def test_transform_is_monotone_and_keeps_nan(method: str) -> None:
    rng = np.random.default_rng(4)
    p, y = rng.uniform(0, 1, 200), rng.integers(0, 2, 200)
    y[p > 0.6] = 1  # some signal so the Platt slope is positive
    cal = Calibrator.fit(p, y, method=method)
    grid = np.linspace(0, 1, 1001)
    out = cal.transform(grid)
    assert np.all(np.diff(out) >= 0) and out.min() >= 0 and out.max() <= 1
    if method == "platt":
        assert np.all(np.diff(out) > 0)
    assert np.isnan(cal.transform(np.array([np.nan, 0.5]))[0])


def test_conformal_quantile_rank() -> None:
    s = np.arange(1.0, 20.0)  # n = 19: k = ceil(20 * 0.95) = 19 -> the largest
    assert conformal_quantile(s, 0.05) == 19.0
    assert conformal_quantile(s[:18], 0.05) == np.inf  # k = 19 > n = 18
    assert conformal_quantile(np.arange(1.0, 11.0), 0.5) == 6.0  # ceil(11 * 0.5) = 6


def coverage(
    band_p: np.ndarray, band_y: np.ndarray, alpha: float, seed: int
) -> tuple[float, float]:
    band, _ = fit_band(band_p, band_y, alpha)
    assert band is not None
    rng = np.random.default_rng(seed)
    real, fake = rng.beta(2, 5, 20_000), rng.beta(5, 2, 20_000)
    return float(band.sets(real)[0].mean()), float(band.sets(fake)[1].mean())


def test_conformal_band_covers_each_class_at_1_minus_alpha() -> None:
    alpha, n = 0.1, 200
    covs = []
    for seed in range(20):  # average over calibration draws: E[coverage] is what is guaranteed
        rng = np.random.default_rng(100 + seed)
        p = np.concatenate([rng.beta(2, 5, n), rng.beta(5, 2, n)])
        y = np.repeat([0, 1], n)
        covs.append(coverage(p, y, alpha, seed))
    real_cov, fake_cov = np.mean(covs, axis=0)
    upper = 1 - alpha + 1 / (n + 1)  # the finite-sample upper bound (continuous scores)
    for c in (real_cov, fake_cov):
        assert 1 - alpha - 0.005 <= c <= upper + 0.005


def test_band_is_empty_on_easy_cases_and_catches_the_middle() -> None:
    rng = np.random.default_rng(5)
    p = np.concatenate([rng.uniform(0, 0.1, 100), rng.uniform(0.9, 1.0, 100)])
    y = np.repeat([0, 1], 100)
    cal = Calibrator.fit(p, y, alpha=0.05)
    assert cal.band is not None
    test = np.concatenate([rng.uniform(0, 0.09, 500), rng.uniform(0.91, 1.0, 500)])
    real_in, fake_in = cal.band.sets(test)
    assert np.all(real_in != fake_in)  # every easy image gets exactly one class
    assert np.array_equal(fake_in, test > 0.5)
    mid_real, mid_fake = cal.band.sets(np.array([0.5]))
    assert not mid_real[0] and not mid_fake[0]  # matches neither class: empty set


def test_too_few_validation_images_switch_the_band_off() -> None:
    cal = Calibrator.fit(np.array([0.1, 0.2, 0.8, 0.9]), np.array([0, 0, 1, 1]), alpha=0.05)
    assert cal.band is None and "needs at least 19" in cal.band_note


def test_fit_errors() -> None:
    with pytest.raises(DataError, match="both real and fake"):
        Calibrator.fit(np.array([0.1, 0.2]), np.array([0, 0]))
    with pytest.raises(DataError, match="Platt slope"):  # fakes score lower than reals
        Calibrator.fit(np.linspace(0, 1, 40), np.repeat([1, 0], 20))
    with pytest.raises(DataError, match="unknown calibration method"):
        Calibrator.fit(np.array([0.1, 0.9]), np.array([0, 1]), method="beta")


@pytest.mark.parametrize("method", ["platt", "isotonic"])
def test_save_load_round_trip(tmp_path: Path, method: str) -> None:
    assert Calibrator.load(tmp_path) is None
    p, y = overconfident(500, seed=6)
    cal = Calibrator.fit(p, y, method=method, alpha=0.1)
    cal.save(tmp_path)
    back = Calibrator.load(tmp_path)
    assert back is not None and back.band == cal.band and back.method == method
    grid = np.linspace(0, 1, 101)
    np.testing.assert_allclose(back.transform(grid), cal.transform(grid))
    (tmp_path / FILENAME).write_text("{not json")
    with pytest.raises(BundleError, match="not valid JSON"):
        Calibrator.load(tmp_path)
    with pytest.raises(BundleError, match="save the detector first"):
        cal.save(tmp_path / "missing")
