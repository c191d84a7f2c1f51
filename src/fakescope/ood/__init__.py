"""Out-of-distribution detection (system S1): scorers, metrics, abstention, benchmark.

Every scorer registers itself in :data:`SCORERS` (one import line each below);
score direction everywhere: higher = more out-of-distribution.
"""

from fakescope.ood import (
    confidence,  # noqa: F401 - registers "confidence"
    energy,  # noqa: F401 - registers "energy"
    entropy,  # noqa: F401 - registers "entropy"
    knn,  # noqa: F401 - registers "knn"
    mahalanobis,  # noqa: F401 - registers "mahalanobis"
    maxlogit,  # noqa: F401 - registers "maxlogit"
    msp,  # noqa: F401 - registers "msp"
    odin,  # noqa: F401 - registers "odin"
    vim,  # noqa: F401 - registers "vim"
)
from fakescope.ood.base import SCORERS, InputScorer, OODScorer, create_scorer

__all__ = ["SCORERS", "InputScorer", "OODScorer", "create_scorer"]
