"""What one forward pass of a detector gives: :class:`Features` (a neutral shared type).

Detectors make them (:meth:`fakescope.detectors.base.Detector.features`), OOD
scorers (:mod:`fakescope.ood`), the abstainer and the verdict function read them,
so this module sits below all of those and imports nothing of fakescope: N images
cost one pass whatever the number of scorers.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Features:
    """Per-image outputs of a detector for N inputs.

    * ``proba`` [N, C]: class probabilities (rows sum to 1; NaN rows where a file failed).
    * ``logits`` [N, C]: raw pre-softmax scores (``log(proba)`` for detectors without
      logits; for sklearn heads the head's ``decision_function`` when it has one).
    * ``embedding`` [N, D]: the detector's embedding (NaN rows where a file failed).
    * ``errors`` [N]: "" or the one-line decode error; ``classes`` [C], "real" first
      for deepfake detectors.
    * ``confidence`` [N] or None: a confidence-branch output in [0, 1] (higher = more
      confident = more in-distribution), for detectors that have one.
    * ``extras``: further per-image arrays [N, ...] by name (e.g. reconstruction
      residuals, or the scores of input-gradient scorers such as ODIN, keyed by
      :attr:`fakescope.ood.base.InputScorer.extra_key`).
    """

    proba: np.ndarray
    logits: np.ndarray
    embedding: np.ndarray
    errors: list[str]
    classes: list[str]
    confidence: np.ndarray | None = None
    extras: dict[str, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.proba.shape[0])

    @property
    def p_fake(self) -> np.ndarray:
        """P(fake) [N] = 1 - P(class 0); NaN for failed files."""
        return 1.0 - self.proba[:, 0]

    @property
    def ok(self) -> np.ndarray:
        """Bool [N]: the file decoded and its proba, logits and embedding are finite."""
        good = np.array([not e for e in self.errors], dtype=bool)
        for arr in (self.proba, self.logits, self.embedding):
            good &= np.isfinite(arr.reshape(len(arr), -1)).all(axis=1)
        return good

    def subset(self, rows: np.ndarray) -> Features:
        """The features of ``rows`` (a bool mask [N] or an index array)."""
        idx = np.flatnonzero(rows) if rows.dtype == bool else np.asarray(rows)
        return Features(
            proba=self.proba[idx],
            logits=self.logits[idx],
            embedding=self.embedding[idx],
            errors=[self.errors[i] for i in idx],
            classes=list(self.classes),
            confidence=None if self.confidence is None else self.confidence[idx],
            extras={k: v[idx] for k, v in self.extras.items()},
        )

    @staticmethod
    def from_proba(
        proba: np.ndarray,
        embedding: np.ndarray,
        errors: list[str] | None = None,
        classes: list[str] | None = None,
    ) -> Features:
        """Features of a detector without logits: ``logits = log(proba)`` (clipped at 1e-12)."""
        proba = np.asarray(proba, dtype=np.float32)
        with np.errstate(invalid="ignore"):
            logits = np.log(np.clip(proba, 1e-12, None)).astype(np.float32)
        n, c = proba.shape
        return Features(
            proba=proba,
            logits=logits,
            embedding=np.asarray(embedding, dtype=np.float32),
            errors=list(errors) if errors is not None else [""] * n,
            classes=list(classes) if classes is not None else [str(i) for i in range(c)],
        )
