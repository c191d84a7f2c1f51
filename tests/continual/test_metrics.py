"""AA / AF / BWT on hand-made matrices."""

from __future__ import annotations

import math

import pytest

from fakescope.continual.metrics import (
    as_square,
    average_accuracy,
    average_forgetting,
    average_plasticity,
    backward_transfer,
    plasticity,
    summary,
)
from fakescope.continual.report import markdown, method_entry, summary_table

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


def test_plasticity_is_the_diagonal() -> None:
    assert plasticity(M) == [0.9, 0.8, 0.95]
    assert average_plasticity(M) == pytest.approx((0.9 + 0.8 + 0.95) / 3)
    assert plasticity([[0.9], [0.6, None]]) == [0.9, None]  # a task with no score is skipped
    assert average_plasticity([[0.9], [0.6, None]]) == pytest.approx(0.9)
    assert average_plasticity([]) is None
    s = summary(M, [[1.0], [0.5, 0.7], [0.5, 0.5, 0.6]])
    assert s["pl"] == pytest.approx(0.8833, abs=1e-4) and s["pl_acc"] == pytest.approx(
        0.7667, abs=1e-4
    )


def test_low_forgetting_without_learning_shows_as_low_plasticity() -> None:
    """The mini-sequence failure: the last task is never learnt (AUC 0.5 right after it)."""
    stubborn = [[0.99], [0.98, 0.55], [0.97, 0.55, 0.5]]
    learner = [[0.99], [0.80, 0.90], [0.75, 0.70, 0.92]]
    af_stubborn, af_learner = average_forgetting(stubborn), average_forgetting(learner)
    pl_stubborn, pl_learner = average_plasticity(stubborn), average_plasticity(learner)
    assert af_stubborn is not None and af_learner is not None
    assert pl_stubborn is not None and pl_learner is not None
    assert af_stubborn < af_learner  # AF alone favours the method that never learnt
    assert pl_stubborn < pl_learner - 0.2


def test_report_shows_plasticity_per_method_and_task() -> None:
    stubborn = [[0.99], [0.98, 0.55], [0.97, 0.55, 0.5]]
    entry = method_entry(stubborn, stubborn, stubborn, 3, 1.0)
    assert entry["pl"] == pytest.approx((0.99 + 0.55 + 0.5) / 3, abs=1e-6)
    report = {"tasks": ["gan", "vae", "upsampler"], "methods": {"cored": entry}}
    header, _, row = summary_table(report)
    cells = [c.strip() for c in row.split("|")]
    assert cells[header.split("|").index(" PL (AUC) ")] == "0.680"
    text = markdown(report, figures=None)
    assert (
        "Plasticity (AUC right after learning each task): gan 0.990, vae 0.550, upsampler 0.500"
        in text
    )
