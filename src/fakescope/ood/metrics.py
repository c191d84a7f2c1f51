"""OOD detection metrics (OpenOOD conventions), from scores where higher = more OOD.

For ID scores s_id [N] and OOD scores s_ood [M] (NaN rows are dropped):

* ``auroc``: area under the ROC curve separating OOD from ID (the same number
  with ID as the positive class and -score as its score);
* ``aupr_in``: average precision with ID positive, ranked by -score;
* ``aupr_out``: average precision with OOD positive, ranked by score;
* ``threshold95``: the OOD-score cut t that keeps 95% of ID images (the
  smallest ID score with at least 95% of ID scores <= t), i.e. ID TPR = 95%;
* ``fpr95``: the fraction of OOD images accepted as ID at t (score <= t);
* ``detection_error``: min over cuts of 0.5 * (1 - ID TPR) + 0.5 * FPR.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score, roc_curve

from fakescope.errors import FakescopeError

#: The ID true-positive rate of the FPR / threshold operating point.
TPR = 0.95


@dataclass(frozen=True)
class OODMetrics:
    """The metrics of one (scorer, OOD set) pair; see the module docstring."""

    auroc: float
    aupr_in: float
    aupr_out: float
    fpr95: float
    detection_error: float
    threshold95: float
    n_id: int
    n_ood: int

    def as_dict(self) -> dict[str, float | int]:
        """The fields as a plain dict (for JSON reports)."""
        return asdict(self)


def _finite(x: np.ndarray, what: str) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64).ravel()
    x = x[np.isfinite(x)]
    if len(x) == 0:
        raise FakescopeError(f"no finite {what} scores to evaluate; check that the images decode")
    return x


def id_threshold(id_scores: np.ndarray, tpr: float = TPR) -> float:
    """The OOD-score cut keeping ``tpr`` of ID images (score <= cut); NaN scores ignored."""
    s = np.sort(_finite(id_scores, "ID"))
    k = int(np.ceil(tpr * len(s) - 1e-9))
    return float(s[max(k, 1) - 1])


def ood_metrics(id_scores: np.ndarray, ood_scores: np.ndarray) -> OODMetrics:
    """All metrics for ID scores [N] vs OOD scores [M] (higher = more OOD; NaN dropped)."""
    s_id = _finite(id_scores, "ID")
    s_ood = _finite(ood_scores, "OOD")
    is_ood = np.r_[np.zeros(len(s_id)), np.ones(len(s_ood))]
    s = np.r_[s_id, s_ood]
    # ID-positive ROC on -score: OpenOOD's orientation for the FPR@95%TPR operating point
    fpr, tpr, _ = roc_curve(1 - is_ood, -s)
    cut = id_threshold(s_id)
    return OODMetrics(
        auroc=float(roc_auc_score(is_ood, s)),
        aupr_in=float(average_precision_score(1 - is_ood, -s)),
        aupr_out=float(average_precision_score(is_ood, s)),
        fpr95=float(np.mean(s_ood <= cut)),
        detection_error=float(np.min(0.5 * (1 - tpr) + 0.5 * fpr)),
        threshold95=cut,
        n_id=len(s_id),
        n_ood=len(s_ood),
    )
