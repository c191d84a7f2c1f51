"""Every built-in detector, registered: import :data:`DETECTORS` (and :class:`Detector`,
whose :meth:`~Detector.load` reads it) from here.

One import line per detector module fills the registry of :mod:`fakescope.detectors.base`.
"""

from fakescope.detectors import (
    cnn,  # noqa: F401 - registers "cnn"
    general,  # noqa: F401 - registers "general"
    hierarchy,  # noqa: F401 - registers "hierarchy"
    probe,  # noqa: F401 - registers "probe"
    unet_scorer,  # noqa: F401 - registers "unet"
    vit_attention,  # noqa: F401 - registers "vit"
)
from fakescope.detectors.base import DETECTORS, Detector, DetectorParams, Prediction

__all__ = ["DETECTORS", "Detector", "DetectorParams", "Prediction"]
