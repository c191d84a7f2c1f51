"""PNG plots for reports: ROC curves, metric heatmaps, robustness curves.

Figures are drawn with matplotlib's Agg canvas directly (no pyplot, no global
backend state, no display needed) and returned as PNG bytes; :func:`data_uri`
turns them into ``data:image/png;base64,...`` for self-contained HTML.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Mapping

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from sklearn.metrics import roc_auc_score, roc_curve

from fakescope.eval.metrics import CLEAN, TIER, TRAIN, VALUE


def to_png(fig: Figure, dpi: int = 100) -> bytes:
    """Render ``fig`` with the Agg canvas and return PNG bytes."""
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    return buf.getvalue()


def data_uri(png: bytes) -> str:
    """``data:image/png;base64,...`` for embedding ``png`` in HTML."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def roc_png(curves: Mapping[str, tuple[np.ndarray, np.ndarray]], title: str) -> bytes:
    """ROC curves, one per entry ``name -> (y_true [N] in {0,1}, p_fake [N])``.

    NaN scores are dropped; entries with a single class are listed as "n/a".
    """
    fig = Figure(figsize=(5.0, 4.6))
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1], color="0.7", lw=1, ls="--")
    for name, (y, p) in curves.items():
        y = np.asarray(y).astype(int)
        p = np.asarray(p, dtype=float)
        ok = ~np.isnan(p)
        y, p = y[ok], p[ok]
        if len(np.unique(y)) < 2:
            ax.plot([], [], label=f"{name} (n/a: one class)")
            continue
        fpr, tpr, _ = roc_curve(y, p)
        ax.plot(fpr, tpr, lw=1.5, label=f"{name} (AUC {roc_auc_score(y, p):.3f})")
    ax.set(
        xlim=(0, 1),
        ylim=(0, 1.01),
        xlabel="false positive rate (reals called fake)",
        ylabel="true positive rate (fakes caught)",
        title=title,
    )
    ax.legend(loc="lower right", fontsize=7)
    return to_png(fig)


def heatmap_png(matrix: pd.DataFrame, title: str, *, vmin: float = 0.0, vmax: float = 1.0) -> bytes:
    """Annotated heatmap of ``matrix`` (rows: trained on, columns: tested on); NaN shown as "-"."""
    values = matrix.to_numpy(dtype=float)
    n_rows, n_cols = values.shape
    fig = Figure(figsize=(1.2 + 0.75 * max(n_cols, 2), 1.0 + 0.55 * max(n_rows, 2)))
    ax = fig.add_subplot()
    ax.set_facecolor("0.9")  # undefined (NaN) cells
    image = ax.imshow(
        np.ma.masked_invalid(values), cmap="viridis", vmin=vmin, vmax=vmax, aspect="auto"
    )
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    ax.set_xticks(range(n_cols), [str(c) for c in matrix.columns], rotation=45, ha="right")
    ax.set_yticks(range(n_rows), [str(i) for i in matrix.index])
    ax.set(xlabel="tested on", ylabel="trained on", title=title)
    for i in range(n_rows):
        for j in range(n_cols):
            v = values[i, j]
            text = "-" if math.isnan(v) else f"{v:.2f}"
            dark = not math.isnan(v) and v < vmin + 0.6 * (vmax - vmin)
            ax.text(
                j, i, text, ha="center", va="center", fontsize=8, color="white" if dark else "black"
            )
    return to_png(fig)


def robustness_png(overall: pd.DataFrame, metric: str) -> bytes:
    """``metric`` versus degradation strength, one panel per tier kind, one line per train source.

    ``overall``: metrics rows of one evaluated group (columns ``train``,
    ``tier``, ``value``, ``metric``); the clean tier is drawn as a dashed line.
    """
    kinds = [k for k in dict.fromkeys(overall[TIER]) if k != CLEAN]
    fig = Figure(figsize=(4.0 * max(len(kinds), 1), 3.4))
    axes = fig.subplots(1, max(len(kinds), 1), squeeze=False)[0]
    sources = list(dict.fromkeys(overall[TRAIN]))
    for ax, kind in zip(axes, kinds, strict=False):
        for n, source in enumerate(sources):
            color = f"C{n % 10}"
            rows = overall[(overall[TRAIN] == source) & (overall[TIER] == kind)].sort_values(VALUE)
            ax.plot(rows[VALUE], rows[metric], marker="o", color=color, label=str(source))
            clean = overall[(overall[TRAIN] == source) & (overall[TIER] == CLEAN)][metric]
            if len(clean) and not math.isnan(float(clean.iloc[0])):
                ax.axhline(float(clean.iloc[0]), color=color, ls="--", lw=0.8)
        ax.set(xlabel=kind, ylabel=metric, ylim=(0, 1.02), title=f"{metric} under {kind}")
        ax.legend(fontsize=7)
    return to_png(fig)
