"""AA / AF / BWT on hand-made matrices."""

from __future__ import annotations

import math

import pytest

from fakescope.continual.metrics import (
    as_square,
    average_accuracy,
    average_forgetting,
    backward_transfer,
    summary,
)

M = [
    [0.9],
    [0.6, 0.8],
    [0.7, 0.5, 0.95],
]


def test_aa_is_the_mean_of_the_last_row() -> None:
    assert average_accuracy(M) == pytest.approx((0.7 + 0.5 + 0.95) / 3)


def test_af_uses_the_best_earlier_score() -> None:
    # task 0: best earlier max(0.9, 0.6) = 0.9 -> 0.9 - 0.7; task 1: 0.8 - 0.5
    assert average_forgetting(M) == pytest.approx(((0.9 - 0.7) + (0.8 - 0.5)) / 2)


def test_bwt_compares_final_with_just_learnt() -> None:
    assert backward_transfer(M) == pytest.approx(((0.7 - 0.9) + (0.5 - 0.8)) / 2)


def test_single_task_has_no_forgetting_and_upper_triangle_is_ignored() -> None:
    assert average_forgetting([[0.8]]) is None and backward_transfer([[0.8]]) is None
    square = as_square([[0.9, 123.0], [0.5, 0.6]])
    assert math.isnan(square[0][1])
    s = summary(M, M)
    assert s["aa"] == s["aa_acc"] and s["af"] == pytest.approx(0.25)
