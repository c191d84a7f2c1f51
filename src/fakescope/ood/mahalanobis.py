"""``mahalanobis``: class-conditional Gaussians with a tied covariance (Lee et al., NeurIPS'18).

Fit on ID training embeddings x [N, D] with labels y [N]: class means mu_c [C, D]
and the shared covariance Sigma = mean_i (x_i - mu_{y_i})(x_i - mu_{y_i})^T; its
pseudo-inverse P [D, D] is kept. score(x) = min_c (x - mu_c)^T P (x - mu_c), the
squared Mahalanobis distance to the nearest class mean; higher = more
out-of-distribution. (Single-layer, no input preprocessing - the OpenOOD
post-hoc form.)
"""

from __future__ import annotations

import numpy as np

from fakescope.errors import FakescopeError
from fakescope.features import Features
from fakescope.ood.base import SCORERS, OODScorer


@SCORERS.register("mahalanobis")
class MahalanobisScorer(OODScorer):
    """Min squared Mahalanobis distance to the class means [N], higher = more OOD.

    Fitted: ``means_`` [C', D] (classes present in the labels), ``precision_`` [D, D].
    """

    name = "mahalanobis"
    needs_labels = True

    def _fit(self, features: Features, labels: np.ndarray | None) -> None:
        assert labels is not None
        x = features.embedding.astype(np.float64)
        classes = np.unique(labels)
        if len(classes) < 1 or len(x) < 2:
            raise FakescopeError("ood scorer mahalanobis needs at least 2 training embeddings")
        means = np.stack([x[labels == c].mean(axis=0) for c in classes])
        centred = x - means[np.searchsorted(classes, labels)]
        cov = centred.T @ centred / len(x)
        self.means_ = means
        self.precision_ = np.linalg.pinv(cov, hermitian=True)

    def _score(self, features: Features) -> np.ndarray:
        x = features.embedding.astype(np.float64)
        best = np.full(len(x), np.inf)
        for mu in self.means_:
            d = x - mu
            best = np.minimum(best, np.einsum("nd,de,ne->n", d, self.precision_, d))
        return best
