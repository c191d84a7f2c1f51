"""What :meth:`Detector.predict <fakescope.detectors.base.Detector.predict>` returns:
:class:`Prediction` (class probabilities + the one routing rule) and, for hierarchical
detectors, :class:`LevelPrediction`.

Score direction: P(fake) = 1 - P(class 0) in [0, 1] (higher = more likely fake);
class 0 is always "real".
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from fakescope.data.schema import REAL
from fakescope.inference.types import cut


@dataclass
class LevelPrediction:
    """One level below the real/fake decision of a hierarchical detector (for per-level scores).

    ``classes`` [K]: the level's class names; ``proba`` [N, K]: the level's own
    probabilities (rows sum to 1; NaN rows for failed files), its prediction is
    the row argmax; ``truth``: final class name -> this level's true class, for
    the final classes this level is judged on (rows of other classes are not
    scored at this level). E.g. a family level maps every generator to its
    family; a per-family generator level maps that family's generators to themselves.
    """

    classes: list[str]
    proba: np.ndarray
    truth: dict[str, str]

    @property
    def predicted(self) -> list[str | None]:
        """The level's argmax class name per row (None for failed files)."""
        return [
            None if np.isnan(row).any() else self.classes[int(np.argmax(row))] for row in self.proba
        ]


@dataclass
class Prediction:
    """Detector output for N inputs, and the one rule that turns it into a class.

    ``proba`` [N, C]: class probabilities (rows sum to 1; NaN where the file
    failed); ``errors`` [N]: "" or the one-line decode error; ``classes`` [C]
    with ``classes[0] == "real"``; ``threshold``: the P(fake) cut of the
    detector that made it (its ``threshold_``, chosen on validation data);
    ``fake_route`` [N] (optional): column index (>= 1) of the fake class the
    detector routes each row to, None = the argmax over the fake columns
    ``proba[:, 1:]``; ``levels`` (optional): per-level predictions of a
    hierarchical detector, by level name (see :class:`LevelPrediction`).

    **The routing rule** (used by ``scan``, ``eval --protocol attribution`` and
    every other caller, via :meth:`decide`): a row is "real" when
    ``p_fake < threshold``; otherwise it is the routed fake class
    (:attr:`fake_class`). So the class and the real/fake verdict
    (fake iff ``p_fake >= threshold``) never contradict: verdict real <=>
    class "real". A flat detector routes to its most probable fake class; the
    hierarchy detector routes greedily down its tree (most probable family,
    then most probable generator in it), which can differ from the fake class
    with the highest path probability.
    """

    proba: np.ndarray
    errors: list[str]
    classes: list[str]
    threshold: float = 0.5
    fake_route: np.ndarray | None = None
    levels: dict[str, LevelPrediction] = field(default_factory=dict)

    @property
    def p_fake(self) -> np.ndarray:
        """P(fake) [N] = 1 - P(real); NaN for failed files."""
        return 1.0 - self.proba[:, 0]

    @property
    def failed(self) -> np.ndarray:
        """[N] bool: rows without a score (the file failed to decode)."""
        return np.isnan(self.proba).any(axis=1)

    @property
    def fake_class(self) -> list[str | None]:
        """The routed fake class per row, whatever the verdict (None for failed files)."""
        if len(self.classes) < 2:
            return [None] * len(self.proba)
        if self.fake_route is None:
            route = 1 + np.argmax(np.nan_to_num(self.proba[:, 1:], nan=-1.0), axis=1)
        else:
            route = np.asarray(self.fake_route, dtype=np.int64)
        failed = self.failed
        return [None if bad else self.classes[int(i)] for bad, i in zip(failed, route, strict=True)]

    def verdict(self, threshold: float | None = None) -> list[str | None]:
        """The verdict per row: "fake" where ``p_fake >= threshold``, else "real"; None for failed files.

        ``threshold`` None = ``self.threshold``.
        """
        return cut(self.p_fake, self.threshold if threshold is None else float(threshold))

    def decide(self, threshold: float | None = None) -> list[str | None]:
        """The class of each row under the routing rule (class docstring); None for failed files.

        ``threshold``: a P(fake) cut to use instead of ``self.threshold`` (e.g. scan's
        ``--threshold``), so the class follows the verdict made at that cut.
        """
        return [
            None if v is None else (REAL if v == REAL else fake)
            for v, fake in zip(self.verdict(threshold), self.fake_class, strict=True)
        ]

    @property
    def predicted_class(self) -> list[str | None]:
        """:meth:`decide` at the detector's own ``threshold`` (None for failed files)."""
        return self.decide()
