"""How sure is "A beats B"? A paired bootstrap of two detectors' mean unseen ROC-AUC.

Unseen-generator test sets are small (realgen-dev: 100-300 images per source),
so a few points of mean unseen AUC can be noise. :func:`paired_unseen_difference`
resamples the test images - the same resample for both detectors, stratified
by class within each held-out generator - and reports the difference
``mean unseen AUC(A) - mean unseen AUC(B)`` with a percentile interval.

The interval covers test-set sampling only: the two trained models are held
fixed, so the spread of training itself (seed, data order) is not in it.

Inputs are ``Report.scores`` tables (columns ``train``, ``path``, ``label``,
``generator``, ``p_fake``; P(fake), higher = more fake) and the report's
``meta["held_out"]`` (``{train source: [generators it never saw]}``). Each
unseen cell is scored on the rows :func:`~fakescope.eval.metrics.group_masks`
gives the generator (its own reals, or all reals when it has none), exactly
as the report's metrics; images are paired by path.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import rankdata

from fakescope.data.schema import LABEL, PATH
from fakescope.eval.metrics import GENERATOR, TRAIN, group_masks
from fakescope.eval.report import P_FAKE


@dataclass(frozen=True)
class PairedDifference:
    """``diff`` = mean unseen AUC of A minus B on the full test sets; ``low``/``high``:
    its percentile interval at ``level``; ``images``: distinct paired test images."""

    diff: float
    low: float
    high: float
    level: float
    n_boot: int
    images: int

    def text(self) -> str:
        """E.g. "95% CI [-0.120, +0.040], paired bootstrap over 519 test images"."""
        return (
            f"{self.level:.0%} CI [{self.low:+.3f}, {self.high:+.3f}], paired bootstrap over "
            f"{self.images} test images"
        )


def unseen_cells(
    scores: pd.DataFrame, held_out: Mapping[str, Sequence[str]]
) -> dict[tuple[str, str], pd.Series]:
    """``{(train source, generator): P(fake) indexed by (path, label)}`` of every unseen cell.

    For each train source, the rows of its held-out generators (the rows of
    :func:`~fakescope.eval.metrics.group_masks`); files that failed (NaN) are dropped.
    """
    out: dict[tuple[str, str], pd.Series] = {}
    for source, generators in held_out.items():
        rows = scores[scores[TRAIN] == source]
        masks = group_masks(
            rows[LABEL].to_numpy(dtype=int), rows[GENERATOR].fillna("").astype(str).to_numpy()
        )
        for g in generators:
            if g in masks:
                cell = rows[masks[g]].dropna(subset=[P_FAKE])
                out[(source, g)] = cell.set_index([PATH, LABEL])[P_FAKE].astype(float)
    return out


def rank_auc(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    """ROC-AUC of each row of ``p`` [B, N] against labels ``y`` [N] (ties count half).

    Mann-Whitney form: (rank sum of the fakes - n1 (n1 + 1) / 2) / (n0 n1); the
    same value as :func:`sklearn.metrics.roc_auc_score`, for B resamples at once.
    """
    fake = np.asarray(y) == 1
    n1, n0 = int(fake.sum()), int((~fake).sum())
    ranks = rankdata(np.atleast_2d(p), axis=1)
    return np.asarray((ranks[:, fake].sum(axis=1) - n1 * (n1 + 1) / 2) / (n0 * n1))


def _source_mean(values: Mapping[tuple[str, str], np.ndarray]) -> np.ndarray:
    """Mean over train sources of the mean over each source's generators (the page's
    "mean unseen": a source that held out a family of 3 counts once, not 3 times)."""
    sources = sorted({s for s, _ in values})
    per_source = [
        np.mean([v for (s, _), v in values.items() if s == src], axis=0) for src in sources
    ]
    return np.asarray(np.mean(per_source, axis=0))


def paired_unseen_difference(
    a_scores: pd.DataFrame,
    a_held_out: Mapping[str, Sequence[str]],
    b_scores: pd.DataFrame,
    b_held_out: Mapping[str, Sequence[str]],
    *,
    n_boot: int = 2000,
    level: float = 0.95,
    seed: int = 0,
) -> PairedDifference | None:
    """Mean unseen AUC of A minus B with a paired, class-stratified bootstrap interval.

    Only (train source, generator) cells unseen by both, and images scored by
    both, count (None when no such cell has both classes). "Mean unseen" is the
    results page's: the mean over train sources of the mean over their unseen
    generators. The point estimate uses every paired image; the interval is the
    ``(1 - level) / 2`` and ``(1 + level) / 2`` quantiles over ``n_boot``
    resamples (seeded: the same inputs give the same interval).
    """
    cells_a, cells_b = unseen_cells(a_scores, a_held_out), unseen_cells(b_scores, b_held_out)
    rng = np.random.default_rng(seed)
    full: dict[tuple[str, str], np.ndarray] = {}
    boot: dict[tuple[str, str], np.ndarray] = {}
    paths: set[str] = set()
    for key in sorted(set(cells_a) & set(cells_b)):
        both = pd.concat({"a": cells_a[key], "b": cells_b[key]}, axis=1, join="inner")
        both = both[~both.index.duplicated()]
        y = both.index.get_level_values(LABEL).to_numpy(dtype=int)
        if len(set(y.tolist())) < 2:
            continue
        pa, pb = both["a"].to_numpy(), both["b"].to_numpy()
        full[key] = rank_auc(y, pa)[0] - rank_auc(y, pb)[0]
        # stratified resample: each class keeps its size, so every resample has both
        by_class = [np.flatnonzero(y == c) for c in (0, 1)]
        idx = np.concatenate([rng.choice(i, size=(n_boot, len(i))) for i in by_class], axis=1)
        ys = y[idx[0]]  # the label of a column is the same in every resample
        boot[key] = rank_auc(ys, pa[idx]) - rank_auc(ys, pb[idx])
        paths.update(both.index.get_level_values(PATH).astype(str))
    if not full:
        return None
    diffs = _source_mean(boot)
    low, high = np.quantile(diffs, [(1 - level) / 2, (1 + level) / 2])
    diff = float(_source_mean(full))
    return PairedDifference(diff, float(low), float(high), level, n_boot, len(paths))
