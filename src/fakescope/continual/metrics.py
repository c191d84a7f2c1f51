"""Continual-learning metrics of a T x T score matrix (AUC or accuracy).

``m[i][j]`` = score on task j after training task i (row i, 0-based); entries
with j > i (tasks not yet seen) are None/NaN and never used.

* AA (average accuracy / score) = mean of the last row: sum_j m[T-1][j] / T.
* AF (average forgetting) = mean over j < T-1 of
  (max_{j <= i < T-1} m[i][j] - m[T-1][j]): best earlier score minus final score.
* BWT (backward transfer) = mean over j < T-1 of (m[T-1][j] - m[j][j]);
  negative = forgetting.
* PL (plasticity) = the diagonal m[i][i], the score on each task right after
  learning it; "PL" in the summary is its mean. Read AF beside it: a method that
  never learns a task (PL near 0.5 AUC) has nothing to forget, so low AF with
  low PL is not retention.

AF and BWT are None for a single task (nothing to forget). Scores are "higher =
better" (AUC, accuracy); so are AA and PL, while AF is "lower = better".
"""

from __future__ import annotations

import math
from collections.abc import Sequence

Matrix = Sequence[Sequence[float | None]]


def as_square(rows: Matrix) -> list[list[float]]:
    """The rows as a full T x T float matrix (NaN above the diagonal / for None)."""
    t = len(rows)
    out = [[math.nan] * t for _ in range(t)]
    for i, row in enumerate(rows):
        for j, v in enumerate(row[: i + 1]):
            out[i][j] = math.nan if v is None else float(v)
    return out


def _mean(values: list[float]) -> float | None:
    ok = [v for v in values if not math.isnan(v)]
    return sum(ok) / len(ok) if ok else None


def average_accuracy(rows: Matrix) -> float | None:
    """AA: the mean of the last row (None for an empty matrix)."""
    if not rows:
        return None
    m = as_square(rows)
    return _mean(m[-1])


def average_forgetting(rows: Matrix) -> float | None:
    """AF: mean over old tasks of (best earlier score - final score)."""
    m = as_square(rows)
    t = len(m)
    if t < 2:
        return None
    drops = []
    for j in range(t - 1):
        earlier = [m[i][j] for i in range(j, t - 1) if not math.isnan(m[i][j])]
        if earlier and not math.isnan(m[-1][j]):
            drops.append(max(earlier) - m[-1][j])
    return _mean(drops)


def backward_transfer(rows: Matrix) -> float | None:
    """BWT: mean over old tasks of (final score - score right after learning it)."""
    m = as_square(rows)
    t = len(m)
    if t < 2:
        return None
    return _mean([m[-1][j] - m[j][j] for j in range(t - 1)])


def plasticity(rows: Matrix) -> list[float | None]:
    """PL per task: ``m[i][i]``, the score on task i right after training it ([T]; None = NaN)."""
    m = as_square(rows)
    return [None if math.isnan(m[i][i]) else m[i][i] for i in range(len(m))]


def average_plasticity(rows: Matrix) -> float | None:
    """Mean of :func:`plasticity` over the tasks that have a score (None when none has)."""
    return _mean([math.nan if v is None else v for v in plasticity(rows)])


def summary(auc: Matrix, acc: Matrix) -> dict[str, float | None]:
    """``aa``, ``af``, ``bwt``, ``pl`` on AUC and ``aa_acc``, ``af_acc``, ``bwt_acc``, ``pl_acc``
    on accuracy (``pl`` = mean plasticity, the mean of the diagonal)."""
    return {
        "aa": average_accuracy(auc),
        "af": average_forgetting(auc),
        "bwt": backward_transfer(auc),
        "pl": average_plasticity(auc),
        "aa_acc": average_accuracy(acc),
        "af_acc": average_forgetting(acc),
        "bwt_acc": backward_transfer(acc),
        "pl_acc": average_plasticity(acc),
    }
