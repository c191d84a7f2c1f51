"""Training losses for the ``cnn`` detector: ``ce``, ``bce``, ``dmyt`` (S3), ``triplet``.

Each loss module registers itself in :data:`LOSSES`; the imports below fill the
registry (one line per module). Build one with :func:`create_loss`.
"""

from fakescope.losses import (
    ce,  # noqa: F401 - registers "ce" and "bce"
    dmyt,  # noqa: F401 - registers "dmyt"
    triplet,  # noqa: F401 - registers "triplet"
)
from fakescope.losses.base import LOSSES, Loss, LossParams, check_loss_params, create_loss

__all__ = ["LOSSES", "Loss", "LossParams", "check_loss_params", "create_loss"]
