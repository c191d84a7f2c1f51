"""The verdict's shared types and the real/fake cut - numpy only, no torch / pandas / detectors.

Everything that makes or reads a verdict imports from here, so nothing needs an
import cycle (``detectors`` may call :func:`cut` / :func:`fake_mask`, ``serve``
reads :class:`Verdict` fields, :mod:`fakescope.inference.decision` builds them).

* :func:`fake_mask` / :func:`cut` - THE real/fake rule at a raw P(fake) threshold:
  fake iff ``p_fake >= threshold`` (higher P(fake) = more likely fake); a NaN
  score (failed file) is neither.
* :class:`Scores` - what the verdict function needs of a detector's output.
* :class:`Verdict` / :class:`FaceVerdict` - the result for one image / one face.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

#: Verdict names (the first two equal :data:`fakescope.data.schema.REAL` / ``FAKE``).
REAL = "real"
FAKE = "fake"
UNSURE = "unsure"
VERDICTS = (REAL, FAKE, UNSURE)
REASON_OOD = "out of distribution"
REASON_BAND = "near the threshold"
REASON_ABOVE = "above threshold"
REASON_BELOW = "below threshold"
UNCALIBRATED = " (uncalibrated)"
REASON_NO_FACE = "no face found"
#: Reported when a row has no score and no decode error.
NO_SCORE = "no score for this image"


def fake_mask(p_fake: np.ndarray | Sequence[float], threshold: float) -> np.ndarray:
    """THE cut: bool [N], True where ``p_fake >= threshold`` (NaN -> False).

    ``p_fake`` [N]: raw P(fake) in [0, 1]; ``threshold``: the raw P(fake) cut.
    """
    p = np.asarray(p_fake, dtype=np.float64)
    return np.nan_to_num(p, nan=-np.inf) >= float(threshold)


def cut(p_fake: np.ndarray | Sequence[float], threshold: float) -> list[str | None]:
    """ "fake" / "real" per row by :func:`fake_mask`; None where ``p_fake`` is NaN (failed file)."""
    p = np.asarray(p_fake, dtype=np.float64)
    fake = fake_mask(p, threshold)
    return [None if np.isnan(x) else (FAKE if f else REAL) for x, f in zip(p, fake, strict=True)]


@dataclass(frozen=True)
class Scores:
    """A detector's output for N images, reduced to what the verdict function needs.

    ``p_fake`` [N] float64: raw P(fake) (higher = more fake; NaN = the file failed);
    ``logit`` [N] float64: the model's own logit of P(fake) (``sigmoid(logit) ==
    p_fake``, kept in float64 so confident scores keep their precision), NaN where
    the model gives none (then ``logit(p_fake)`` is used); ``fake_class`` [N]: the
    fake class each row is routed to (None for failed rows); ``errors`` [N]: "" or
    the one-line error.
    """

    p_fake: np.ndarray
    logit: np.ndarray
    fake_class: list[str | None]
    errors: list[str]

    def __len__(self) -> int:
        return len(self.p_fake)


@dataclass(frozen=True)
class Verdict:
    """The verdict for one image (rules: :mod:`fakescope.inference.decision`).

    ``verdict`` in {"real", "fake", "unsure"}, None when the image could not be
    scored (``error`` then says why); ``p_fake``: calibrated P(fake) in [0, 1]
    (the raw score when the bundle has no calibrator; None on error);
    ``p_fake_raw``: the detector's own P(fake); ``ood``: the abstainer flagged the
    image as out of distribution; ``ood_score``: higher = more out of distribution
    (None without an abstainer); ``cls``: the class consistent with the verdict
    (None on error); ``reason``: one line for people (never parsed - read the
    fields); ``faces``: per-face results when faces were asked for (None
    otherwise; empty when no face was found).
    """

    path: str
    p_fake: float | None
    p_fake_raw: float | None
    verdict: str | None
    reason: str
    ood_score: float | None
    cls: str | None
    error: str
    ood: bool = False
    faces: tuple[FaceVerdict, ...] | None = None

    @property
    def filename(self) -> str:
        """The file name part of :attr:`path`."""
        return Path(self.path).name

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``path, p_fake, p_fake_raw, verdict, reason, ood_score, class, error``
        (+ ``faces``), the columns ``scan`` / ``check --json`` always wrote: a failed
        image has ``verdict`` and ``class`` ``""`` (not null) in this form, and the
        ``ood`` flag is left to callers that publish it (the server adds it)."""
        out: dict[str, Any] = {
            "path": self.path,
            "p_fake": self.p_fake,
            "p_fake_raw": self.p_fake_raw,
            "verdict": self.verdict or "",
            "reason": self.reason,
            "ood_score": self.ood_score,
            "class": self.cls or "",
            "error": self.error,
        }
        if self.faces is not None:
            out["faces"] = [f.to_dict() for f in self.faces]
        return out


@dataclass(frozen=True)
class FaceVerdict:
    """One face of an image: ``box`` (the detected face) and ``crop`` (the scored
    region), both ``(x0, y0, x1, y1)`` pixels of the original image, and the
    crop's :class:`Verdict`."""

    box: tuple[int, int, int, int]
    crop: tuple[int, int, int, int]
    verdict: Verdict

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``box``, ``crop`` and the crop's verdict fields (no path / error)."""
        v = self.verdict.to_dict()
        for key in ("path", "error", "faces"):
            v.pop(key, None)
        return {"box": list(self.box), "crop": list(self.crop), **v}
