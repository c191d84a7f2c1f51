"""Speed of the probe heads on embeddings of cached size (``fakescope perf heads``).

A probe's heads are fit on embeddings read from the cache, so their cost is
independent of images: this benchmark times ``fit_head`` + ``head_proba`` on
``n`` embeddings [n, dim] drawn from two (or more) Gaussian classes whose means
differ by ``separation`` standard deviations along a random direction, so the
fit has a real signal to find. Times are medians over ``repeats`` fits.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from fakescope.detectors.heads import HEADS, fit_head, head_proba
from fakescope.errors import ConfigError


@dataclass(frozen=True)
class HeadTiming:
    """One head's medians: fit seconds, predict seconds (all ``n`` rows) and training accuracy."""

    head: str
    n: int
    dim: int
    fit_s: float
    predict_s: float
    train_accuracy: float

    def row(self) -> dict[str, Any]:
        """The timing as a flat dict (for tables)."""
        return {
            "head": self.head,
            "n": self.n,
            "dim": self.dim,
            "fit s": round(self.fit_s, 3),
            "predict s": round(self.predict_s, 3),
            "train acc": round(self.train_accuracy, 3),
        }


def synthetic_embeddings(
    n: int, dim: int, *, classes: int = 2, separation: float = 1.0, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """``(x [n, dim] float32, y [n] int64)``: balanced Gaussian classes (unit variance).

    Class c's mean is ``c * separation`` along one random unit direction.
    """
    if n < 2 * classes or dim < 1 or classes < 2:
        raise ConfigError(
            f"need n >= {2 * classes}, dim >= 1 and >= 2 classes; got n={n}, dim={dim}, classes={classes}"
        )
    rng = np.random.default_rng(seed)
    y = np.arange(n, dtype=np.int64) % classes
    direction = rng.standard_normal(dim)
    direction /= np.linalg.norm(direction)
    x = rng.standard_normal((n, dim)) + separation * y[:, None] * direction[None, :]
    return x.astype(np.float32), y


def time_heads(
    x: np.ndarray,
    y: np.ndarray,
    heads: Sequence[str],
    *,
    params: Mapping[str, Mapping[str, Any]] | None = None,
    repeats: int = 3,
    seed: int = 0,
) -> list[HeadTiming]:
    """Median fit and predict seconds of each head of ``heads`` on ``x`` [N, D], ``y`` [N]."""
    unknown = [h for h in heads if h not in HEADS]
    if unknown:
        raise ConfigError(f"unknown head(s) {unknown}; choose from: {', '.join(HEADS.names())}")
    n_classes = int(y.max()) + 1
    out = []
    for name in heads:
        fits, predicts, accuracy = [], [], 0.0
        for _ in range(max(1, repeats)):
            start = time.perf_counter()
            head = fit_head(name, (params or {}).get(name, {}), x, y, seed=seed)
            fits.append(time.perf_counter() - start)
            start = time.perf_counter()
            proba = head_proba(head, x, n_classes)
            predicts.append(time.perf_counter() - start)
            accuracy = float((proba.argmax(axis=1) == y).mean())
        out.append(
            HeadTiming(
                name,
                len(x),
                x.shape[1],
                statistics.median(fits),
                statistics.median(predicts),
                accuracy,
            )
        )
    return out
