"""Decision thresholds, always chosen on validation data (never on test labels)."""

from __future__ import annotations

import numpy as np


def choose_threshold(y_true: np.ndarray, p_fake: np.ndarray) -> float:
    """The P(fake) cut maximising balanced accuracy on validation data.

    ``y_true`` [N] in {0, 1}, ``p_fake`` [N] in [0, 1] (higher = more likely
    fake); samples with ``p_fake >= t`` are called fake. NaN scores (files that
    failed to decode) are ignored.

    Every cut between two neighbouring distinct scores ``lo < t <= hi`` makes the
    same decisions on the validation data, so the best *interval* is found first;
    inside it the cut is 0.5 when 0.5 lies in it (the calibrated default is kept
    whenever it is optimal), else the interval's midpoint (the widest margin on
    both sides). Among equally good intervals the cut closest to 0.5 wins. With
    fewer than two classes present, 0.5 is returned.
    """
    y = np.asarray(y_true).astype(int).ravel()
    p = np.asarray(p_fake, dtype=float).ravel()
    if y.shape != p.shape:
        raise ValueError(f"y_true and p_fake differ in length: {y.shape[0]} vs {p.shape[0]}")
    ok = ~np.isnan(p)
    y, p = y[ok], np.clip(p[ok], 0.0, 1.0)
    n_fake = int(y.sum())
    n_real = len(y) - n_fake
    if n_fake == 0 or n_real == 0:
        return 0.5
    scores = np.unique(p)  # ascending distinct scores u_1 < ... < u_m
    # Interval k (k = 0..m) calls fake exactly the samples with score >= scores[k]
    # (k = m: nothing is fake). Its cuts are (scores[k-1], scores[k]], with the
    # outer bounds 0 (closed) and 1.
    lows = np.concatenate([[0.0], scores])
    highs = np.concatenate([scores, [1.0]])
    idx = np.searchsorted(scores, p)  # position of each sample's score
    fake_below = np.concatenate([[0], np.cumsum(np.bincount(idx[y == 1], minlength=len(scores)))])
    real_below = np.concatenate([[0], np.cumsum(np.bincount(idx[y == 0], minlength=len(scores)))])
    tpr = 1.0 - fake_below / n_fake  # fakes with score >= scores[k]
    tnr = real_below / n_real  # reals with score < scores[k]
    bal = (tpr + tnr) / 2.0
    valid = highs > lows
    valid[0] = True  # [0, u_1] is never empty: t = 0 calls everything fake
    bal = np.where(valid, bal, -np.inf)
    best = np.flatnonzero(np.isclose(bal, bal.max()))
    cuts = np.array([_representative(lows[k], highs[k], closed_low=k == 0) for k in best])
    return float(cuts[np.argmin(np.abs(cuts - 0.5))])


def _representative(lo: float, hi: float, *, closed_low: bool) -> float:
    """The cut used for the interval (lo, hi] ([lo, hi] when ``closed_low``)."""
    if (lo < 0.5 or (closed_low and lo <= 0.5)) and hi >= 0.5:
        return 0.5
    return (lo + hi) / 2.0
