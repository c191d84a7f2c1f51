"""choose_threshold: balanced-accuracy optimum on validation data, ties resolved towards 0.5."""

from __future__ import annotations

import numpy as np
import pytest

from fakescope.detectors.threshold import choose_threshold


def balanced_accuracy(y: np.ndarray, p: np.ndarray, t: float) -> float:
    fake = p >= t
    return float((fake[y == 1].mean() + (~fake[y == 0]).mean()) / 2)


def test_gap_containing_half_keeps_half() -> None:
    y = np.array([0, 0, 1, 1])
    assert choose_threshold(y, np.array([0.1, 0.3, 0.7, 0.9])) == 0.5


def test_gap_above_half_gives_midpoint() -> None:
    y = np.array([0, 0, 1, 1])
    # any cut in (0.7, 0.9] separates perfectly; the midpoint keeps the widest margin
    assert choose_threshold(y, np.array([0.6, 0.7, 0.9, 0.95])) == pytest.approx(0.8)


def test_gap_below_half_gives_midpoint() -> None:
    y = np.array([0, 0, 1, 1])
    assert choose_threshold(y, np.array([0.1, 0.2, 0.3, 0.4])) == pytest.approx(0.25)


def test_fakes_at_the_cut_are_called_fake() -> None:
    y = np.array([0, 1, 1])
    p = np.array([0.2, 0.3, 0.3])
    t = choose_threshold(y, p)
    assert 0.2 < t <= 0.3
    assert balanced_accuracy(y, p, t) == 1.0


@pytest.mark.parametrize("labels", [[0, 0, 0], [1, 1], []])
def test_single_class_or_empty_gives_half(labels: list[int]) -> None:
    y = np.array(labels, dtype=int)
    assert choose_threshold(y, np.linspace(0.1, 0.9, len(y))) == 0.5


def test_nan_scores_are_ignored() -> None:
    y = np.array([0, 1, 0, 1])
    p = np.array([0.1, 0.3, np.nan, np.nan])
    assert choose_threshold(y, p) == pytest.approx(0.2)


def test_length_mismatch_is_an_error() -> None:
    with pytest.raises(ValueError, match="differ in length"):
        choose_threshold(np.array([0, 1]), np.array([0.5]))


@pytest.mark.parametrize("seed", range(8))
def test_matches_brute_force_optimum(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(5, 40))
    y = rng.integers(0, 2, n)
    y[:2] = [0, 1]
    p = np.round(np.clip(rng.normal(0.35 + 0.3 * y, 0.2), 0, 1), 2)  # rounding makes ties
    t = choose_threshold(y, p)
    cuts = np.concatenate([np.unique(p), [1.0 + 1e-9], [0.0]])
    best = max(balanced_accuracy(y, p, c) for c in cuts)
    assert 0.0 <= t <= 1.0
    assert balanced_accuracy(y, p, t) == pytest.approx(best)
