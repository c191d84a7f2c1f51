"""``entropy``: Shannon entropy of the predicted class distribution.

score = -sum_c p_c log p_c from ``Features.proba`` [N, C] (natural log, 0 log 0 = 0);
higher = more out-of-distribution (a flat, unsure prediction).
"""

from __future__ import annotations

import numpy as np
from scipy.special import entr

from fakescope.features import Features
from fakescope.ood.base import SCORERS, OODScorer


@SCORERS.register("entropy")
class EntropyScorer(OODScorer):
    """Predictive entropy [N] in [0, log C], higher = more OOD. No fitting."""

    name = "entropy"

    def _score(self, features: Features) -> np.ndarray:
        return entr(features.proba.astype(np.float64)).sum(axis=1)
