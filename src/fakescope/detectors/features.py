"""One pass of a detector's network over images: :class:`~fakescope.features.Features`.

The functions here take the detector's pieces (its one-pass batch function, classes,
preprocessing), not the detector, so :mod:`fakescope.detectors.base` can call them
without an import cycle; :meth:`Detector.features <fakescope.detectors.base.Detector.features>`
is the public entry. Input scorers (ODIN) come in as ``batch_scores``: per-batch
callables by ``Features.extras`` key.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from fakescope.data.transforms import InputConfig, eval_transform
from fakescope.features import Features

#: A detector's one forward pass: x [B, 3, H, W] -> ``(proba, logits, embedding[, extras])``.
BatchForward = Callable[[torch.Tensor], tuple[Any, ...]]
#: An input scorer's per-batch OOD scores: x [B, 3, H, W] -> [B] (higher = more OOD).
BatchScores = Callable[[torch.Tensor], np.ndarray]


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
    forward: BatchForward,
    paths: Sequence[str | Path],
    *,
    classes: Sequence[str],
    input_config: InputConfig,
    embedding_dim: Callable[[], int],
    batch_size: int,
    num_workers: int | None,
    progress: str | None = None,
    batch_scores: Mapping[str, BatchScores] | None = None,
    image_fn: Callable[[Image.Image], Image.Image] | None = None,
) -> Features:
    """One pass of ``forward`` over ``paths``: :class:`Features` (NaN rows + errors for failed files).

    ``classes`` [C]: the fitted detector's classes; ``input_config``: its preprocessing;
    ``embedding_dim``: D of its embedding (asked only when no file decodes);
    ``batch_size`` / ``num_workers``: the loader settings of this call.

    ``batch_scores``: per-batch scores of scorers that need the image batches (ODIN),
    by key; their scores [N] land in ``extras[key]``.
    """
    from fakescope.data.loader import iter_batches

    scorers = dict(batch_scores or {})
    cfg = input_config
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
        batch_size=batch_size,
        num_workers=num_workers,
        image_fn=image_fn,
        errors=errors,
        progress=progress,
    ):
        p, lg, e, more = batch_outputs(forward(batch.x))
        for key, score in scorers.items():
            more[key] = score(batch.x)
        if embedding is None:
            embedding = np.full((n, e.shape[1]), np.nan, dtype=np.float32)
        proba[batch.index], logits[batch.index], embedding[batch.index] = p, lg, e
        for key, value in more.items():
            value = np.asarray(value)
            if key not in extras:
                extras[key] = np.full((n, *value.shape[1:]), np.nan, dtype=np.float64)
            extras[key][batch.index] = value
    if embedding is None:
        embedding = np.full((n, embedding_dim()), np.nan, dtype=np.float32)
    for key in scorers:  # no decodable image: the key still exists (all NaN)
        extras.setdefault(key, np.full(n, np.nan))
    confidence = extras.pop("confidence", None)
    return Features(proba, logits, embedding, errors, list(classes), confidence, extras)


def features_of_images(
    forward: BatchForward,
    images: Sequence[Image.Image],
    *,
    classes: Sequence[str],
    input_config: InputConfig,
    batch_scores: Mapping[str, BatchScores] | None = None,
) -> Features:
    """:class:`Features` for in-memory images (all decodable; one batch), as :func:`extract_features`."""
    transform = eval_transform(input_config)
    x = torch.stack([transform(img.convert("RGB")) for img in images])
    p, lg, e, more = batch_outputs(forward(x))
    for key, score in (batch_scores or {}).items():
        more[key] = score(x)
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
