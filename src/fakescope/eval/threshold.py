"""Decision thresholds, always chosen on validation data (never on test labels)."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import roc_curve


def choose_threshold(y_true: np.ndarray, p_fake: np.ndarray) -> float:
    """The P(fake) cut maximising balanced accuracy on validation data.

    ``y_true`` [N] in {0, 1}, ``p_fake`` [N] in [0, 1]; samples with
    ``p_fake >= t`` are called fake. Among equally good cuts the one closest to
    0.5 wins; with a single class present, 0.5 is returned.
    """
    y = np.asarray(y_true).astype(int)
    p = np.asarray(p_fake, dtype=float)
    if len(y) == 0 or len(np.unique(y)) < 2:
        return 0.5
    fpr, tpr, cuts = roc_curve(y, p)
    cuts = np.clip(cuts, 0.0, 1.0)  # sklearn's first cut is +inf ("call nothing fake")
    bal = (tpr + 1.0 - fpr) / 2.0
    best = np.flatnonzero(np.isclose(bal, bal.max()))
    return float(cuts[best[np.argmin(np.abs(cuts[best] - 0.5))]])
