"""Calibration metrics for P(fake): expected calibration error and reliability diagrams.

Binary calibration of P(fake) (not top-label confidence): the scores ``p``
[N] in [0, 1] (higher = more likely fake) are put into ``n_bins`` equal-width
bins ``[0, 1/B), [1/B, 2/B), ..., [(B-1)/B, 1]`` (the last bin is closed, so
p = 1 counts). For each non-empty bin ``b`` with ``n_b`` scores, ``mean_p_b``
is their mean score and ``frac_fake_b`` the fraction of them that are fake.

    ECE = sum_b (n_b / N) * |frac_fake_b - mean_p_b|

with B = 15 by default (the usual choice since Guo et al., 2017). ECE is 0
for perfectly calibrated scores and at most 1; it depends on the binning and
is biased upwards for small N, so compare ECEs on the same data and bins.
NaN scores (files that failed) are ignored.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from matplotlib.figure import Figure

#: Default number of equal-width bins.
N_BINS = 15


@dataclass(frozen=True)
class Reliability:
    """Reliability-diagram data over ``B`` equal-width bins.

    ``edges`` [B + 1]; ``count`` [B]; ``mean_p`` [B] and ``frac_fake`` [B]
    (NaN for empty bins); ``ece``: the expected calibration error (module docstring).
    """

    edges: np.ndarray
    count: np.ndarray
    mean_p: np.ndarray
    frac_fake: np.ndarray
    ece: float

    def to_dict(self) -> dict[str, object]:
        """JSON-ready (NaN -> None)."""

        def clean(a: np.ndarray) -> list[float | None]:
            return [None if np.isnan(v) else float(v) for v in a.astype(np.float64)]

        return {
            "edges": clean(self.edges),
            "count": [int(c) for c in self.count],
            "mean_p": clean(self.mean_p),
            "frac_fake": clean(self.frac_fake),
            "ece": self.ece,
        }


def reliability(y_true: np.ndarray, p_fake: np.ndarray, n_bins: int = N_BINS) -> Reliability:
    """Bin ``p_fake`` [N] against labels ``y_true`` [N] in {0, 1}; see the module docstring."""
    if n_bins < 1:
        raise ValueError(f"n_bins must be at least 1, got {n_bins}")
    y = np.asarray(y_true).astype(np.float64).ravel()
    p = np.asarray(p_fake, dtype=np.float64).ravel()
    if y.shape != p.shape:
        raise ValueError(f"y_true and p_fake differ in length: {len(y)} vs {len(p)}")
    ok = ~np.isnan(p)
    y, p = y[ok], np.clip(p[ok], 0.0, 1.0)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    idx = np.minimum((p * n_bins).astype(np.int64), n_bins - 1)  # p = 1 -> last bin
    count = np.bincount(idx, minlength=n_bins)
    sum_p = np.bincount(idx, weights=p, minlength=n_bins)
    sum_y = np.bincount(idx, weights=y, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_p = np.where(count > 0, sum_p / count, np.nan)
        frac = np.where(count > 0, sum_y / count, np.nan)
    n = int(count.sum())
    gaps = np.abs(np.nan_to_num(frac) - np.nan_to_num(mean_p))
    ece = float((count * gaps).sum() / n) if n else float("nan")
    return Reliability(edges, count, mean_p, frac, ece)


def expected_calibration_error(
    y_true: np.ndarray, p_fake: np.ndarray, n_bins: int = N_BINS
) -> float:
    """ECE of P(fake) with ``n_bins`` equal-width bins (NaN when no score is left)."""
    return reliability(y_true, p_fake, n_bins).ece


def reliability_figure(curves: Mapping[str, Reliability], title: str = "Reliability") -> Figure:
    """A reliability diagram: observed fake fraction vs mean P(fake) per bin, one line per entry.

    The diagonal is perfect calibration; the legend shows each entry's ECE.
    Drawn on a bare :class:`~matplotlib.figure.Figure` (no pyplot state); render
    it with :func:`fakescope.eval.plots.to_png`.
    """
    fig = Figure(figsize=(4.2, 4.0))
    ax = fig.add_subplot(1, 1, 1)
    ax.plot([0, 1], [0, 1], color="0.6", linestyle="--", linewidth=1, label="perfect")
    for name, rel in curves.items():
        keep = rel.count > 0
        ax.plot(
            rel.mean_p[keep],
            rel.frac_fake[keep],
            marker="o",
            markersize=3,
            label=f"{name} (ECE {rel.ece:.3f})",
        )
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("mean P(fake) in bin")
    ax.set_ylabel("fraction fake in bin")
    ax.set_title(title)
    ax.legend(loc="upper left", fontsize=7)
    return fig
