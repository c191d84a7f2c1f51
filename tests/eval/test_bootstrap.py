"""Paired bootstrap of the mean unseen AUC difference (fakescope.eval.bootstrap)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from fakescope.eval.bootstrap import paired_unseen_difference, rank_auc, unseen_cells


def scores(cells: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]]) -> pd.DataFrame:
    """A Report.scores table: ``{(train, generator): (labels [N], p_fake [N])}``."""
    rows = []
    for (train, gen), (y, p) in cells.items():
        for i, (label, score) in enumerate(zip(y, p, strict=True)):
            rows.append((train, f"/{gen}/{i}.png", int(label), gen, float(score), ""))
    return pd.DataFrame(rows, columns=["train", "path", "label", "generator", "p_fake", "error"])


def noisy(y: np.ndarray, signal: float, rng: np.random.Generator) -> np.ndarray:
    """Scores separating the classes by ``signal`` standard deviations."""
    return y * signal + rng.normal(size=len(y))


def test_rank_auc_equals_sklearn_with_ties() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    p = np.round(rng.random((5, 200)), 1)  # many ties
    expected = [roc_auc_score(y, row) for row in p]
    assert np.allclose(rank_auc(y, p), expected)


def test_difference_and_interval() -> None:
    rng = np.random.default_rng(1)
    y = np.repeat([0, 1], 150)
    held = {"without x": ["x"]}
    strong = scores({("without x", "x"): (y, noisy(y, 2.0, rng))})
    weak = scores({("without x", "x"): (y, noisy(y, 0.3, rng))})
    found = paired_unseen_difference(strong, held, weak, held, n_boot=500)
    assert found is not None
    auc_strong = roc_auc_score(y, strong["p_fake"])
    auc_weak = roc_auc_score(y, weak["p_fake"])
    assert found.diff == pytest.approx(auc_strong - auc_weak)
    assert 0 < found.low < found.diff < found.high  # a real gap: the interval excludes 0
    assert found.images == 300 and "95% CI [+" in found.text()
    same = paired_unseen_difference(strong, held, strong, held, n_boot=200)
    assert same is not None and same.low == same.high == same.diff == 0  # paired: no noise


def test_interval_narrows_with_more_images() -> None:
    rng = np.random.default_rng(2)
    widths = []
    for n in (40, 1000):
        y = np.repeat([0, 1], n)
        a = scores({("s", "g"): (y, noisy(y, 1.0, rng))})
        b = scores({("s", "g"): (y, noisy(y, 1.0, rng))})
        found = paired_unseen_difference(a, {"s": ["g"]}, b, {"s": ["g"]}, n_boot=400)
        assert found is not None and found.low <= found.diff <= found.high
        widths.append(found.high - found.low)
    assert widths[1] < widths[0] / 3  # ~ 1 / sqrt(25) = 0.2 in theory


def test_mean_over_sources_then_generators_and_pairing() -> None:
    y = np.array([0, 0, 1, 1])
    perfect, inverted = np.array([0.1, 0.2, 0.8, 0.9]), np.array([0.9, 0.8, 0.2, 0.1])
    # source 1 held out x and z (A perfect on both), source 2 held out w (A inverted)
    cells = {("s1", "x"): (y, perfect), ("s1", "z"): (y, perfect), ("s2", "w"): (y, inverted)}
    a = scores(cells)
    b = scores({k: (y, np.full(4, 0.5)) for k in cells})  # B: AUC 0.5 everywhere
    held = {"s1": ["x", "z"], "s2": ["w"]}
    found = paired_unseen_difference(a, held, b, held, n_boot=100)
    # per source: s1 (1.0 - 0.5), s2 (0.0 - 0.5); mean over sources 0, not over cells (+1/6)
    assert found is not None and found.diff == pytest.approx(0.0)
    assert set(unseen_cells(a, held)) == {("s1", "x"), ("s1", "z"), ("s2", "w")}
    b_other_files = b.assign(path=b["path"] + ".other")
    assert paired_unseen_difference(a, held, b_other_files, held) is None  # nothing paired
    assert paired_unseen_difference(a, {"s9": ["x"]}, b, held) is None


def test_generator_without_own_reals_uses_every_real() -> None:
    # reals untagged (generator ""), as in a manifest: each generator is scored against all reals
    rows = [("s", f"/r{i}.png", 0, "", 0.1 * i, "") for i in range(4)]
    rows += [("s", f"/f{i}.png", 1, "g", 0.5 + 0.1 * i, "") for i in range(4)]
    table = pd.DataFrame(rows, columns=["train", "path", "label", "generator", "p_fake", "error"])
    cell = unseen_cells(table, {"s": ["g"]})[("s", "g")]
    assert len(cell) == 8 and sorted(set(cell.index.get_level_values("label"))) == [0, 1]
