"""ECE and reliability data against hand computations; the figure draws."""

from __future__ import annotations

import numpy as np
import pytest

from fakescope.eval.calibration import (
    N_BINS,
    expected_calibration_error,
    reliability,
    reliability_figure,
)
from fakescope.eval.plots import to_png


def test_ece_matches_a_hand_computation() -> None:
    p = np.array([0.05, 0.1, 0.95, 1.0, np.nan])
    y = np.array([0, 1, 1, 1, 1])
    # 2 bins: [0, .5): mean p .075, fake fraction .5 -> gap .425; [.5, 1]: .975 vs 1 -> .025
    assert expected_calibration_error(y, p, n_bins=2) == pytest.approx(0.5 * 0.425 + 0.5 * 0.025)
    rel = reliability(y, p, n_bins=2)
    assert rel.count.tolist() == [2, 2]  # p = 1 lands in the last (closed) bin; NaN dropped
    np.testing.assert_allclose(rel.mean_p, [0.075, 0.975])
    np.testing.assert_allclose(rel.frac_fake, [0.5, 1.0])


def test_default_bins_and_empty_bins() -> None:
    rel = reliability(np.array([0, 1]), np.array([0.01, 0.99]))
    assert len(rel.edges) == N_BINS + 1 == 16 and rel.count.sum() == 2
    assert np.isnan(rel.mean_p[5]) and rel.to_dict()["mean_p"][5] is None  # type: ignore[index]
    assert rel.ece == pytest.approx((0.01 + 0.01) / 2)


def test_ece_is_small_for_calibrated_and_large_for_overconfident_scores() -> None:
    rng = np.random.default_rng(0)
    q = rng.uniform(0, 1, 50_000)  # true P(fake)
    y = (rng.uniform(0, 1, q.size) < q).astype(int)
    logit = np.log(q) - np.log1p(-q)
    over = 1 / (1 + np.exp(-3 * logit))
    assert expected_calibration_error(y, q) < 0.01
    assert expected_calibration_error(y, over) > 0.1


def test_reliability_figure_renders() -> None:
    rel = reliability(np.array([0, 1, 1, 0]), np.array([0.2, 0.7, 0.9, 0.4]))
    png = to_png(reliability_figure({"raw": rel}))
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
