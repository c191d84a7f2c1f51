"""``energy``: the free energy of the logits (Liu et al., NeurIPS'20).

score = E(x) = -T * logsumexp(logits / T) from ``Features.logits`` [N, C];
higher energy = more out-of-distribution.
"""

from __future__ import annotations

import numpy as np
from scipy.special import logsumexp

from fakescope.errors import ConfigError
from fakescope.features import Features
from fakescope.ood.base import SCORERS, OODScorer


@SCORERS.register("energy")
class EnergyScorer(OODScorer):
    """Free energy [N] at temperature ``temperature`` (default 1), higher = more OOD. No fitting."""

    name = "energy"

    def __init__(self, temperature: float = 1.0) -> None:
        super().__init__(temperature=temperature)
        if not temperature > 0:
            raise ConfigError(f"energy temperature must be > 0, got {temperature}")
        self.temperature = float(temperature)

    def _score(self, features: Features) -> np.ndarray:
        t = self.temperature
        return -t * logsumexp(features.logits.astype(np.float64) / t, axis=1)
