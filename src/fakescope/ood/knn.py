"""``knn``: deep nearest neighbours (Sun et al., ICML'22).

Fit stores the L2-normalised ID training embeddings z [N, D]. score(x) = the
Euclidean distance from x / ||x|| to its k-th nearest training embedding;
higher = more out-of-distribution. Exact search by matrix products in chunks
(||a - b||^2 = 2 - 2 a.b for unit vectors).
"""

from __future__ import annotations

import numpy as np

from fakescope.errors import ConfigError
from fakescope.features import Features
from fakescope.ood.base import SCORERS, OODScorer

_CHUNK = 1024


def l2_normalise(x: np.ndarray) -> np.ndarray:
    """Rows of ``x`` [N, D] scaled to unit L2 norm (float32; zero rows stay zero)."""
    x = x.astype(np.float32)
    norm = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norm, 1e-12)


@SCORERS.register("knn")
class KNNScorer(OODScorer):
    """Distance to the k-th nearest normalised training embedding [N], higher = more OOD.

    ``k``: the neighbour rank (default 50, OpenOOD's CIFAR-10 setting; capped
    at the number of training embeddings). Fitted: ``bank_`` [N_train, D].
    """

    name = "knn"

    def __init__(self, k: int = 50) -> None:
        super().__init__(k=k)
        if int(k) < 1:
            raise ConfigError(f"knn k must be >= 1, got {k}")
        self.k = int(k)

    def _fit(self, features: Features, labels: np.ndarray | None) -> None:
        self.bank_ = l2_normalise(features.embedding)

    def _score(self, features: Features) -> np.ndarray:
        z = l2_normalise(features.embedding)
        k = min(self.k, len(self.bank_))
        out = np.empty(len(z), dtype=np.float64)
        for start in range(0, len(z), _CHUNK):
            sim = z[start : start + _CHUNK] @ self.bank_.T  # [b, N_train]
            kth = -np.partition(-sim, k - 1, axis=1)[:, k - 1]  # k-th largest similarity
            out[start : start + _CHUNK] = np.sqrt(np.clip(2.0 - 2.0 * kth, 0.0, None))
        return out
