"""What one forward pass of a detector gives: :class:`Features`.

Extracted once per image set and shared by every OOD scorer
(:mod:`fakescope.ood`), so N images cost one pass whatever the number of scorers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from PIL import Image

if TYPE_CHECKING:
    from fakescope.detectors.base import Detector
    from fakescope.ood.base import InputScorer


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


def batch_outputs(
    out: tuple[np.ndarray, ...],
) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """Normalise a ``_features_batch`` result: ``(proba, logits, embedding[, extras])``.

    The optional 4th element is a dict of per-image arrays [B, ...]; its key
    ``"confidence"`` [B] becomes :attr:`Features.confidence`.
    """
    if len(out) == 3:
        return out[0], out[1], out[2], {}
    if len(out) == 4 and isinstance(out[3], dict):
        return out[0], out[1], out[2], dict(out[3])
    raise TypeError("_features_batch must return (proba, logits, embedding[, extras dict])")


def extract_features(
    detector: Detector,
    paths: Sequence[str | Path],
    *,
    progress: str | None = None,
    input_scorers: Sequence[InputScorer] = (),
    image_fn: Callable[[Image.Image], Image.Image] | None = None,
    batch_size: int | None = None,
    num_workers: int | None = None,
) -> Features:
    """One pass over ``paths``: :class:`Features` (NaN rows + errors for failed files).

    ``batch_size`` / ``num_workers``: for this call only (default: the detector's params).

    ``input_scorers``: scorers that need the image batches (ODIN); their
    scores [N] land in ``extras[scorer.extra_key]``.
    """
    from fakescope.data.loader import iter_batches
    from fakescope.data.transforms import eval_transform

    classes = detector.check_fitted()
    cfg = detector.input_config
    n, c = len(paths), len(classes)
    errors = [""] * n
    proba = np.full((n, c), np.nan, dtype=np.float32)
    logits = np.full((n, c), np.nan, dtype=np.float32)
    embedding: np.ndarray | None = None
    extras: dict[str, np.ndarray] = {}
    for batch in iter_batches(
        paths,
        eval_transform(cfg),
        (3, cfg.size, cfg.size),
        batch_size=detector.params.batch_size if batch_size is None else batch_size,
        num_workers=detector.params.num_workers if num_workers is None else num_workers,
        image_fn=image_fn,
        errors=errors,
        progress=progress,
    ):
        p, lg, e, more = batch_outputs(detector._features_batch(batch.x))
        for scorer in input_scorers:
            more[scorer.extra_key] = scorer.batch_scores(detector, batch.x)
        if embedding is None:
            embedding = np.full((n, e.shape[1]), np.nan, dtype=np.float32)
        proba[batch.index], logits[batch.index], embedding[batch.index] = p, lg, e
        for key, value in more.items():
            value = np.asarray(value)
            if key not in extras:
                extras[key] = np.full((n, *value.shape[1:]), np.nan, dtype=np.float64)
            extras[key][batch.index] = value
    if embedding is None:
        embedding = np.full((n, detector.embedding_dim), np.nan, dtype=np.float32)
    for scorer in input_scorers:  # no decodable image: the key still exists (all NaN)
        extras.setdefault(scorer.extra_key, np.full(n, np.nan))
    confidence = extras.pop("confidence", None)
    return Features(proba, logits, embedding, errors, list(classes), confidence, extras)


def features_of_images(
    detector: Detector,
    images: Sequence[Image.Image],
    input_scorers: Sequence[InputScorer] = (),
) -> Features:
    """:class:`Features` for in-memory images (all decodable; one batch)."""
    from fakescope.data.transforms import eval_transform

    classes = detector.check_fitted()
    transform = eval_transform(detector.input_config)
    x = torch.stack([transform(img.convert("RGB")) for img in images])
    p, lg, e, more = batch_outputs(detector._features_batch(x))
    for scorer in input_scorers:
        more[scorer.extra_key] = scorer.batch_scores(detector, x)
    confidence = more.pop("confidence", None)
    return Features(
        np.asarray(p, dtype=np.float32),
        np.asarray(lg, dtype=np.float32),
        np.asarray(e, dtype=np.float32),
        [""] * len(images),
        list(classes),
        None if confidence is None else np.asarray(confidence, dtype=np.float64),
        {k: np.asarray(v, dtype=np.float64) for k, v in more.items()},
    )


def sklearn_head_logits(head: Any, x: np.ndarray, n_classes: int, proba: np.ndarray) -> np.ndarray:
    """Logits [N, n_classes] of a fitted sklearn head for inputs ``x`` [N, D].

    The head's ``decision_function`` when it has one (binary: [0, d] for its
    two classes, so softmax = the logistic probability), else ``log(proba)``.
    Classes absent from training get a logit of -1e4. NaN rows stay NaN.
    """
    logits = np.full((len(x), n_classes), np.nan, dtype=np.float32)
    ok = np.isfinite(x).all(axis=1)
    if not ok.any():
        return logits
    if not hasattr(head, "decision_function"):
        with np.errstate(divide="ignore"):
            logits[ok] = np.log(np.clip(proba[ok], 1e-12, None))
        return logits
    d = np.asarray(head.decision_function(x[ok]), dtype=np.float32)
    cols = np.asarray(head.classes_, dtype=np.int64)
    block = np.full((int(ok.sum()), n_classes), -1e4, dtype=np.float32)
    if d.ndim == 1:
        block[:, cols[0]] = 0.0
        block[:, cols[1]] = d
    else:
        block[:, cols] = d
    logits[ok] = block
    return logits
