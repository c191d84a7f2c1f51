"""Detectors: everything users train, save, load and run (see :mod:`.base`).

Each detector module registers itself in :data:`DETECTORS`; the imports below
fill the registry (one line per detector).
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
