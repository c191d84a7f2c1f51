"""``confidence``: the confidence-branch output (DeVries & Taylor, 2018).

Detectors with a confidence branch fill ``Features.confidence`` [N] with
c = sigmoid(fc(h)) in [0, 1] (higher = more confident). score = -c; higher =
more out-of-distribution.
"""

from __future__ import annotations

import numpy as np

from fakescope.errors import FakescopeError
from fakescope.features import Features
from fakescope.ood.base import SCORERS, OODScorer


def _confidence(features: Features) -> np.ndarray:
    if features.confidence is None:
        raise FakescopeError(
            "ood scorer confidence needs a detector with a confidence branch "
            "(Features.confidence is empty); choose another scorer"
        )
    return features.confidence


@SCORERS.register("confidence")
class ConfidenceScorer(OODScorer):
    """Negative confidence-branch output [N], higher = more OOD. No fitting."""

    name = "confidence"

    def _fit(self, features: Features, labels: np.ndarray | None) -> None:
        _confidence(features)  # fail at fit time for detectors without the branch

    def _score(self, features: Features) -> np.ndarray:
        return -np.asarray(_confidence(features), dtype=np.float64)
