"""Metrics on hand-computable data, and the per-generator grouping rule."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fakescope.data.schema import Sample, make_table
from fakescope.eval.metrics import (
    ACC_AT_VAL,
    ACCURACY,
    AP,
    AUC,
    FAKE_ACCURACY,
    GENERATOR,
    METRIC_COLUMNS,
    N_ERRORS,
    N_FAKE,
    N_REAL,
    OVERALL,
    REAL_ACCURACY,
    THRESHOLD,
    binary_metrics,
    group_masks,
    group_metrics,
)


def test_metric_names_are_stable() -> None:
    assert (N_REAL, N_FAKE, N_ERRORS, AUC, AP) == ("n_real", "n_fake", "n_errors", "roc_auc", "ap")
    assert ACC_AT_VAL in METRIC_COLUMNS


def test_hand_computed_example() -> None:
    y = np.array([0, 0, 1, 1])
    p = np.array([0.1, 0.6, 0.7, 0.4])
    m = binary_metrics(y, p, threshold=0.35)
    assert (m[N_REAL], m[N_FAKE], m[N_ERRORS]) == (2, 2, 0)
    assert m[ACCURACY] == 0.5  # 0.1 real ok, 0.6 real wrong, 0.7 fake ok, 0.4 fake wrong
    assert m[REAL_ACCURACY] == 0.5
    assert m[FAKE_ACCURACY] == 0.5
    assert m[AUC] == pytest.approx(0.75)  # 3 of 4 (fake, real) pairs ordered right
    assert m[AP] == pytest.approx(0.5 * 1 + 0.5 * 2 / 3)  # ranks: F R F R
    assert m[THRESHOLD] == 0.35
    assert m[ACC_AT_VAL] == 0.75  # at 0.35 only the real 0.6 is wrong


def test_perfect_separation_and_constant_scores() -> None:
    y = np.array([0, 0, 0, 1, 1])
    perfect = binary_metrics(y, np.array([0.0, 0.1, 0.2, 0.8, 0.9]))
    assert perfect[AUC] == 1.0 and perfect[AP] == 1.0 and perfect[ACCURACY] == 1.0
    constant = binary_metrics(y, np.full(5, 0.3))
    assert constant[AUC] == 0.5
    assert constant[ACCURACY] == pytest.approx(3 / 5)
    assert constant[FAKE_ACCURACY] == 0.0 and constant[REAL_ACCURACY] == 1.0


def test_cut_is_inclusive() -> None:
    m = binary_metrics(np.array([1]), np.array([0.5]), threshold=0.5)
    assert m[ACCURACY] == 1.0 and m[ACC_AT_VAL] == 1.0


@pytest.mark.parametrize("label", [0, 1])
def test_one_class_gives_nan_auc_not_a_crash(label: int) -> None:
    m = binary_metrics(np.full(3, label), np.array([0.2, 0.6, 0.9]))
    assert math.isnan(m[AUC]) and math.isnan(m[AP])
    assert m[ACCURACY] == pytest.approx(2 / 3 if label else 1 / 3)
    empty_side = REAL_ACCURACY if label else FAKE_ACCURACY
    assert math.isnan(m[empty_side])


def test_failed_files_are_excluded_and_counted() -> None:
    y = np.array([0, 1, 1, 0])
    p = np.array([0.1, 0.9, np.nan, np.nan])
    m = binary_metrics(y, p)
    assert (m[N_REAL], m[N_FAKE], m[N_ERRORS]) == (1, 1, 2)
    assert m[ACCURACY] == 1.0 and m[AUC] == 1.0
    assert math.isnan(m[THRESHOLD]) and math.isnan(m[ACC_AT_VAL])


def test_empty_input_is_all_nan() -> None:
    m = binary_metrics(np.array([], dtype=int), np.array([]))
    assert m[N_REAL] == 0 and math.isnan(m[ACCURACY]) and math.isnan(m[AUC])


def test_group_masks_rule() -> None:
    y = np.array([0, 1, 0, 1, 1, 0, 1])
    gen = np.array(["a", "a", "b", "b", "c", "", ""])
    masks = group_masks(y, gen)
    assert list(masks) == [OVERALL, "a", "b", "c"]
    assert masks[OVERALL].all()
    assert masks["a"].tolist() == [True, True, False, False, False, False, False]
    # "c" has no reals of its own: its fake against every real
    assert masks["c"].tolist() == [True, False, True, False, True, True, False]


def test_group_metrics_table() -> None:
    rows = [
        (0, "a", 0.1),
        (1, "a", 0.9),
        (0, "b", 0.2),
        (1, "b", 0.15),
        (1, "c", 0.7),
        (0, "", 0.4),
    ]
    table = make_table([Sample(f"/x/{i}.png", lab, gen) for i, (lab, gen, _) in enumerate(rows)])
    frame = group_metrics(table, np.array([r[2] for r in rows]), threshold=0.3)
    assert frame[GENERATOR].tolist() == [OVERALL, "a", "b", "c"]
    by = frame.set_index(GENERATOR)
    assert by.loc["a", AUC] == 1.0
    assert by.loc["b", AUC] == 0.0
    # all reals for a generator without reals of its own
    assert by.loc["c", N_REAL] == 3 and by.loc["c", N_FAKE] == 1
    assert by.loc["c", AUC] == 1.0
    assert by.loc[OVERALL, N_REAL] == 3 and by.loc[OVERALL, N_FAKE] == 3
    assert by.loc["b", ACC_AT_VAL] == 0.5
    assert frame[N_REAL].dtype == np.int64 and frame[AUC].dtype == np.float64


def test_group_metrics_length_mismatch() -> None:
    table = make_table([Sample("/x/0.png", 0, "a")])
    with pytest.raises(ValueError, match="1 rows"):
        group_metrics(table, np.array([0.1, 0.2]))


def test_group_with_only_reals_is_nan() -> None:
    table = make_table([Sample("/a", 0, "r"), Sample("/b", 0, "r"), Sample("/c", 1, "f")])
    frame = group_metrics(table, np.array([0.1, 0.2, 0.9])).set_index(GENERATOR)
    assert frame.loc["r", N_FAKE] == 0 and frame.loc["r", REAL_ACCURACY] == 1.0
    assert frame[[AUC, AP]].loc["r"].isna().all()
