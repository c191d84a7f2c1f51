"""Every built-in loss, registered: import :data:`LOSSES` and :func:`create_loss` from here.

One import line per loss module fills the registry of :mod:`fakescope.losses.base`.
"""

from fakescope.losses import (
    ce,  # noqa: F401 - registers "ce" and "bce"
    dmyt,  # noqa: F401 - registers "dmyt"
    triplet,  # noqa: F401 - registers "triplet"
)
from fakescope.losses.base import LOSSES, Loss, LossParams, check_loss_params, create_loss

__all__ = ["LOSSES", "Loss", "LossParams", "check_loss_params", "create_loss"]
