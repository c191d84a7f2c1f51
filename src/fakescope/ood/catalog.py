"""Every built-in OOD scorer, registered: import :data:`SCORERS` and :func:`create_scorer` from here.

One import line per scorer module fills the registry of :mod:`fakescope.ood.base`.
(The learned ``abnormality`` module is not registered: see :mod:`fakescope.ood.abnormality`.)
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
