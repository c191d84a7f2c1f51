"""fit_bundle: calibration data is split off the validation data, so the band's promise holds."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from fakescope.detectors.base import Prediction
from fakescope.errors import ConfigError
from fakescope.inference.fit_bundle import calibrate_detector, fit_bundle, split_calibration


def table(labels: Sequence[int]) -> pd.DataFrame:
    return pd.DataFrame({"path": [str(i) for i in range(len(labels))], "label": list(labels)})


def test_split_is_disjoint_stratified_and_seeded() -> None:
    val = table([0] * 10 + [1] * 6)
    val.index = val.index + 100  # any index
    rest, cal = split_calibration(val, 0.5, seed=3)
    assert set(rest.index).isdisjoint(cal.index) and len(rest) + len(cal) == len(val)
    assert cal["label"].value_counts().to_dict() == {0: 5, 1: 3}
    _, again_cal = split_calibration(val, 0.5, seed=3)
    assert list(again_cal.index) == list(cal.index)
    assert list(split_calibration(val, 0.5, seed=4)[1].index) != list(cal.index)
    _, tiny = split_calibration(table([0, 0, 1, 1]), 0.1)
    assert tiny["label"].tolist() == [0, 1]  # at least one per label on each side
    with pytest.raises(ConfigError, match="fraction"):
        split_calibration(val, 1.0)


class SelectingDetector:
    """A stand-in detector whose training is model selection on the validation rows.

    It has ``K`` candidate score functions; image ``i`` of candidate ``k`` scores
    ``signal * (2 y_i - 1) + noise[k, i]`` (noise independent across candidates).
    ``fit`` keeps the candidate that separates its validation rows best - what early
    stopping does with checkpoints - so its validation scores look better than its
    scores on new images. Paths are row numbers into the score matrix.
    """

    def __init__(self, scores: np.ndarray) -> None:
        self.scores = scores
        self.k = 0
        self.threshold_ = 0.5
        self.classes_ = ["real", "fake"]

    def fit(self, train: pd.DataFrame, val: pd.DataFrame | None, **_: Any) -> SelectingDetector:
        assert val is not None
        idx = val["path"].astype(int).to_numpy()
        y = val["label"].to_numpy()
        sep = self.scores[:, idx[y == 1]].mean(1) - self.scores[:, idx[y == 0]].mean(1)
        self.k = int(np.argmax(sep))
        return self

    def check_fitted(self) -> list[str]:
        return self.classes_

    def predict(self, paths: Sequence[str | Path], **_: Any) -> Prediction:
        s = self.scores[self.k, [int(str(p)) for p in paths]]
        p = 1.0 / (1.0 + np.exp(-s))
        return Prediction(np.stack([1 - p, p], 1), [""] * len(p), self.classes_)


def _miss_rate(det: SelectingDetector, band: Any, test: pd.DataFrame) -> float:
    """Share of held-out images whose true class is not in the conformal set (mean of both classes)."""
    p = det.predict(test["path"].tolist()).p_fake
    real_in, fake_in = band.sets(p)
    y = test["label"].to_numpy()
    return float(np.mean([np.mean(~real_in[y == 0]), np.mean(~fake_in[y == 1])]))


def test_band_error_on_held_out_images_stays_within_alpha() -> None:
    """Promise: per-class miss rate <= alpha in expectation; checked as the mean over 30
    repetitions <= alpha + 0.025 (the standard error of that mean is about 0.007 here).

    The old single-split code fit the band on the same validation rows that chose
    the model; it misses about 0.15 instead of 0.1 here, and the test asserts it
    fails, so this test can tell the two apart.
    """
    alpha, k, n_val, n_test, signal = 0.1, 400, 120, 2000, 0.5
    new, old = [], []
    for rep in range(30):
        rng = np.random.default_rng(rep)
        labels = np.r_[np.zeros(n_val // 2), np.ones(n_val // 2), rng.integers(0, 2, n_test)]
        y = labels.astype(int)
        scores = signal * (2 * y - 1)[None, :] + rng.normal(size=(k, len(y)))
        val, test = table(y[:n_val]), table(y)
        test = test.iloc[n_val:]
        train = val.iloc[:0]

        det = SelectingDetector(scores)
        bundle = fit_bundle(det, train, val, alpha=alpha, ood=False, seed=rep).bundle  # type: ignore[arg-type]
        assert bundle.calibrator is not None and bundle.calibrator.band is not None
        new.append(_miss_rate(det, bundle.calibrator.band, test))

        old_det = SelectingDetector(scores).fit(train, val)
        old_cal = calibrate_detector(old_det, val, alpha=alpha)  # type: ignore[arg-type]
        assert old_cal.band is not None
        old.append(_miss_rate(old_det, old_cal.band, test))
    assert np.mean(new) <= alpha + 0.025
    assert np.mean(old) > alpha + 0.025  # the single split breaks the promise
