"""``msp``: maximum softmax probability (Hendrycks & Gimpel, ICLR'17).

score = -max_c p_c, from ``Features.proba`` [N, C]; higher = more out-of-distribution.
"""

from __future__ import annotations

import numpy as np

from fakescope.features import Features
from fakescope.ood.base import SCORERS, OODScorer


@SCORERS.register("msp")
class MSPScorer(OODScorer):
    """Negative maximum softmax probability: [N] in [-1, -1/C], higher = more OOD. No fitting."""

    name = "msp"

    def _score(self, features: Features) -> np.ndarray:
        return -features.proba.max(axis=1)
