"""``maxlogit``: maximum logit (Hendrycks et al., ICML'22).

score = -max_c logit_c from ``Features.logits`` [N, C]; higher = more out-of-distribution.
"""

from __future__ import annotations

import numpy as np

from fakescope.features import Features
from fakescope.ood.base import SCORERS, OODScorer


@SCORERS.register("maxlogit")
class MaxLogitScorer(OODScorer):
    """Negative maximum logit [N], higher = more OOD. No fitting."""

    name = "maxlogit"

    def _score(self, features: Features) -> np.ndarray:
        return -features.logits.astype(np.float64).max(axis=1)
