"""The head-speed benchmark: synthetic embeddings with a signal, one timing per head."""

from __future__ import annotations

import numpy as np
import pytest

from fakescope.errors import ConfigError
from fakescope.perf.heads import synthetic_embeddings, time_heads


def test_synthetic_embeddings_are_balanced_and_separable() -> None:
    x, y = synthetic_embeddings(400, 16, separation=6.0, seed=1)
    assert x.shape == (400, 16) and x.dtype == np.float32
    assert np.bincount(y).tolist() == [200, 200]
    gap = x[y == 1].mean(axis=0) - x[y == 0].mean(axis=0)
    assert 5.0 < float(np.linalg.norm(gap)) < 7.0  # the mean shift is `separation` long
    again, _ = synthetic_embeddings(400, 16, separation=6.0, seed=1)
    np.testing.assert_array_equal(x, again)


def test_time_heads_fits_every_head() -> None:
    x, y = synthetic_embeddings(200, 8, separation=6.0)
    timings = time_heads(x, y, ["logistic", "knn"], repeats=2)
    assert [t.head for t in timings] == ["logistic", "knn"]
    for t in timings:
        assert t.fit_s > 0 and t.predict_s > 0 and (t.n, t.dim) == (200, 8)
        assert t.train_accuracy > 0.95  # separable data: a fitted head gets it right


def test_bad_input_is_one_line() -> None:
    with pytest.raises(ConfigError, match="unknown head"):
        time_heads(*synthetic_embeddings(20, 4), ["nope"])
    with pytest.raises(ConfigError, match="need n >="):
        synthetic_embeddings(2, 4)
