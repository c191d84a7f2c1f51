"""Robustness tiers: re-score the test images after a degradation.

A tier is ``(kind, value)``: ``("jpeg", 50)`` re-encodes every test image as
JPEG quality 50 before the detector sees it, ``("blur", 1.0)`` blurs with
sigma 1 px, ``("downscale", 0.5)`` halves the resolution and scales back. The
undegraded images are the ``("clean", NaN)`` tier. The degradations are the
functions of :mod:`fakescope.data.degrade`, applied through
``Detector.predict(image_fn=...)`` (so they run in the loader's workers).
Adding a kind = one entry in :data:`DEGRADATIONS` plus the matching list field
of :class:`fakescope.config.RobustnessConfig`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from PIL import Image

from fakescope.config import RobustnessConfig
from fakescope.data import degrade
from fakescope.detectors.base import Detector, Prediction
from fakescope.errors import ConfigError
from fakescope.eval.metrics import CLEAN

ImageFn = Callable[[Image.Image], Image.Image]

#: Degradation kind -> function (PIL image, parameter) -> PIL image of the same size.
DEGRADATIONS: dict[str, Callable[[Image.Image, float], Image.Image]] = {
    "jpeg": lambda img, quality: degrade.jpeg(img, round(quality)),
    "blur": degrade.blur,
    "downscale": degrade.downscale,
}


@dataclass(frozen=True)
class Tier:
    """One evaluation condition: ``kind`` ("clean" or a :data:`DEGRADATIONS` key) and ``value``."""

    kind: str
    value: float

    @property
    def image_fn(self) -> Degradation | None:
        """PIL -> PIL degradation (picklable, for loader workers); None for the clean tier."""
        if self.kind == CLEAN:
            return None
        return Degradation(self.kind, self.value)

    @property
    def label(self) -> str:
        """Short display name, e.g. ``clean`` or ``jpeg=50``."""
        return self.kind if self.kind == CLEAN else f"{self.kind}={self.value:g}"


@dataclass(frozen=True)
class Degradation:
    """A deterministic PIL -> PIL degradation, picklable for loader workers.

    ``cache_tag`` names it exactly, so detectors that cache embeddings by file
    content (the probe) may also cache degraded embeddings under that tag.
    """

    kind: str
    value: float

    def __call__(self, img: Image.Image) -> Image.Image:
        return DEGRADATIONS[self.kind](img, self.value)

    @property
    def cache_tag(self) -> str:
        """E.g. ``jpeg=50``: identifies the degradation for embedding caches."""
        return f"{self.kind}={self.value:g}"


CLEAN_TIER = Tier(CLEAN, math.nan)


def tiers_from_config(config: RobustnessConfig | None) -> list[Tier]:
    """The clean tier followed by every configured degradation, in config order.

    Raises :class:`ConfigError` (one line) for a value the degradation rejects
    (e.g. JPEG quality 0), before any image is scored.
    """
    tiers = [CLEAN_TIER]
    if config is None:
        return tiers
    probe = Image.new("RGB", (8, 8), (128, 128, 128))
    for kind, fn in DEGRADATIONS.items():
        for value in getattr(config, kind):
            try:
                fn(probe, float(value))
            except ValueError as exc:
                raise ConfigError(
                    f"invalid robustness tier {kind}={value}: {exc}; fix eval.robustness.{kind}"
                ) from None
            tiers.append(Tier(kind, float(value)))
    return tiers


def predict_tiers(
    detector: Detector,
    paths: list[str],
    tiers: list[Tier],
    *,
    progress: bool = False,
) -> list[tuple[Tier, Prediction]]:
    """Score ``paths`` once per tier; returns ``[(tier, prediction)]`` in tier order.

    Each prediction's ``p_fake`` is [N] P(fake) (NaN for files that failed).
    """
    out: list[tuple[Tier, Prediction]] = []
    for tier in tiers:
        desc = f"scoring ({tier.label})" if progress else None
        pred = detector.predict(paths, image_fn=tier.image_fn, progress=desc)
        out.append((tier, pred))
    return out
