"""OOD metrics against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from fakescope.errors import FakescopeError
from fakescope.ood.metrics import id_threshold, ood_metrics


def test_perfect_and_reversed_separation() -> None:
    m = ood_metrics(np.arange(20.0), np.arange(20.0) + 100)
    assert m.auroc == 1.0 and m.aupr_in == 1.0 and m.aupr_out == 1.0
    assert m.fpr95 == 0.0 and m.detection_error == 0.0
    r = ood_metrics(np.arange(20.0) + 100, np.arange(20.0))
    assert r.auroc == 0.0 and r.fpr95 == 1.0


def test_hand_computed_small_case() -> None:
    s_id = np.array([0.1, 0.2, 0.3, 0.9])
    s_ood = np.array([0.25, 0.8, np.nan])
    m = ood_metrics(s_id, s_ood)
    # pairs (ood > id): 0.25 beats 0.1, 0.2 (2 of 4); 0.8 beats 0.1, 0.2, 0.3 (3 of 4) -> 5/8
    assert m.auroc == pytest.approx(5 / 8)
    # 95% of 4 ID images -> all 4 kept: cut = 0.9 -> both OOD accepted
    assert m.threshold95 == pytest.approx(0.9) and m.fpr95 == 1.0
    # AUPR-out: ranked by score desc: 0.9(id) 0.8(ood) 0.3(id) 0.25(ood) ...
    # precision at each OOD hit: 1/2, 2/4 -> AP = (0.5 + 0.5) / 2
    assert m.aupr_out == pytest.approx(0.5)
    # AUPR-in: ranked by -score: 0.1 0.2 (id, id) 0.25 (ood) 0.3 (id) 0.8 (ood) 0.9 (id)
    assert m.aupr_in == pytest.approx((1 + 1 + 3 / 4 + 4 / 6) / 4)
    # best cut keeps 0.1, 0.2 (TPR 0.5, FPR 0) or keeps up to 0.3 (TPR .75, FPR .5): min 0.25
    assert m.detection_error == pytest.approx(0.25)
    assert (m.n_id, m.n_ood) == (4, 2)


def test_threshold_keeps_95_percent() -> None:
    s = np.random.default_rng(0).normal(size=1000)
    t = id_threshold(s)
    assert np.mean(s <= t) >= 0.95 and np.mean(s < t) < 0.95


def test_no_finite_scores_is_an_error() -> None:
    with pytest.raises(FakescopeError, match="no finite OOD"):
        ood_metrics(np.ones(3), np.array([np.nan]))
