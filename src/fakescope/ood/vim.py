"""``vim``: virtual-logit matching (Wang et al., CVPR'22).

Needs a linear last layer logits = x W^T + b on the embedding x [N, D]. The
Features contract carries no weights, so fit *estimates* (W, b) by least
squares from the training embeddings and logits (exact for a linear head -
the cnn's fc layer, the probe's logistic regression incl. its scaler - and
the best affine approximation otherwise; the fit residual is kept as
``fit_residual_``). Then, as in the paper:

* origin u = -pinv(W) b; principal subspace of the centred training features
  x - u: the eigenvectors of (x - u)^T (x - u) / N; ``ns_`` [D, D - dim] spans
  the complement of the top ``dim`` ones;
* virtual logit ||(x - u) ns_||, scaled by alpha = mean max-logit / mean virtual
  logit on the training data;
* score = alpha * ||(x - u) ns_|| - logsumexp(logits); higher = more
  out-of-distribution.
"""

from __future__ import annotations

import numpy as np
from scipy.special import logsumexp

from fakescope.errors import ConfigError, FakescopeError
from fakescope.features import Features
from fakescope.ood.base import SCORERS, OODScorer


def default_dim(d: int) -> int:
    """The principal-subspace size used by the paper / OpenOOD for feature width ``d``."""
    if d >= 2048:
        return 1000
    if d >= 768:
        return 512
    return max(1, d // 2)


@SCORERS.register("vim")
class ViMScorer(OODScorer):
    """Virtual-logit score [N], higher = more OOD (``dim``: principal subspace size, None = auto).

    Fitted: ``weight_`` [C, D], ``bias_`` [C], ``origin_`` [D], ``ns_`` [D, D - dim], ``alpha_``.
    """

    name = "vim"

    def __init__(self, dim: int | None = None) -> None:
        super().__init__(dim=dim)
        if dim is not None and int(dim) < 1:
            raise ConfigError(f"vim dim must be >= 1, got {dim}")
        self.dim = None if dim is None else int(dim)

    def _fit(self, features: Features, labels: np.ndarray | None) -> None:
        x = features.embedding.astype(np.float64)
        logits = features.logits.astype(np.float64)
        n, d = x.shape
        dim = self.dim if self.dim is not None else default_dim(d)
        if dim >= d:
            raise ConfigError(f"vim dim {dim} must be smaller than the embedding size {d}")
        design = np.hstack([x, np.ones((n, 1))])
        coef, *_ = np.linalg.lstsq(design, logits, rcond=None)  # [D + 1, C]
        weight, bias = coef[:-1].T, coef[-1]
        resid = logits - design @ coef
        origin = -np.linalg.pinv(weight) @ bias
        centred = x - origin
        eigval, eigvec = np.linalg.eigh(centred.T @ centred / n)  # ascending
        ns = eigvec[:, np.argsort(eigval)[::-1][dim:]]
        vlogit = np.linalg.norm(centred @ ns, axis=1)
        if not vlogit.mean() > 0:
            raise FakescopeError(
                "ood scorer vim: the training features have no residual subspace; lower dim"
            )
        self.weight_ = weight
        self.bias_ = bias
        self.origin_ = origin
        self.ns_ = ns
        self.alpha_ = float(logits.max(axis=1).mean() / vlogit.mean())
        self.fit_residual_ = float(np.sqrt((resid**2).mean()))

    def _score(self, features: Features) -> np.ndarray:
        x = features.embedding.astype(np.float64)
        vlogit = np.linalg.norm((x - self.origin_) @ self.ns_, axis=1) * self.alpha_
        return vlogit - logsumexp(features.logits.astype(np.float64), axis=1)
