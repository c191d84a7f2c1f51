"""Rendering of OOD benchmark results: a self-contained report section + report files.

:func:`ood_section` builds a :class:`~fakescope.eval.sections.TableSection`
(key ``ood_benchmark``: the rows, ID accuracy and meta; the AUROC / FPR95 tables; per-scorer
score histograms and ROC curves as PNG plots), so it can be appended to any
:class:`~fakescope.eval.report.Report`. :func:`write_ood_report` writes
``report.json`` (key ``ood``: the rows, as ``eval --protocol ood`` writes them; plus
``id_accuracy`` and ``meta``) / ``report.md`` / ``report.html`` and the PNGs into a folder
(every file via :mod:`fakescope.fileio`).
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from sklearn.metrics import roc_curve

from fakescope.eval.plots import data_uri, to_png
from fakescope.eval.sections import SECTIONS, TableSection, jsonable
from fakescope.fileio import atomic_write_bytes, atomic_write_json, atomic_write_text
from fakescope.ood.benchmark import BenchmarkResult

#: The section key (``ood`` itself is the eval protocol's rows-only section).
KEY = "ood_benchmark"
TITLE = "Out-of-distribution detection benchmark"
NOTE = (
    "Scores: higher = more out-of-distribution. AUROC / AUPR-in (ID positive) / AUPR-out "
    "(OOD positive) in %, FPR95 = OOD accepted at 95% ID kept (lower is better)."
)


def percent_table(rows: list[dict[str, Any]], metric: str) -> pd.DataFrame:
    """``metric`` x 100 as a scorer x OOD-set table (first column ``scorer``), from ``ood`` rows."""
    pivot = pd.DataFrame(rows).pivot(index="scorer", columns="ood_set", values=metric) * 100
    pivot.insert(0, "scorer", pivot.index)
    return pivot.reset_index(drop=True)


def _tables(rows: list[dict[str, Any]]) -> list[tuple[str, pd.DataFrame]]:
    if not rows:
        return []
    return [
        (label, percent_table(rows, metric).round(2))
        for metric, label in (
            ("auroc", "AUROC %"),
            ("fpr95", "FPR@95%TPR %"),
            ("aupr_in", "AUPR-in %"),
            ("aupr_out", "AUPR-out %"),
        )
    ]


def histogram_png(scores: dict[str, np.ndarray], title: str) -> bytes:
    """Overlaid score histograms, one per set (``"id"`` first); NaN dropped."""
    fig = Figure(figsize=(5.0, 3.4))
    ax = fig.add_subplot()
    finite = {k: v[np.isfinite(v)] for k, v in scores.items()}
    allv = np.concatenate([v for v in finite.values() if len(v)] or [np.zeros(1)])
    bins = np.linspace(np.quantile(allv, 0.005), np.quantile(allv, 0.995) + 1e-12, 40)
    for name, v in finite.items():
        ax.hist(
            np.clip(v, bins[0], bins[-1]),
            bins=bins.tolist(),
            alpha=0.45,
            density=True,
            label=f"{name} ({len(v)})",
        )
    ax.set(xlabel="OOD score (higher = more OOD)", ylabel="density", title=title)
    ax.legend(fontsize=7)
    return to_png(fig)


def ood_roc_png(scores: dict[str, np.ndarray], title: str) -> bytes:
    """ROC curves (x = ID rejected, y = OOD caught), one per OOD set against ``scores["id"]``."""
    fig = Figure(figsize=(5.0, 4.6))
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1], color="0.7", lw=1, ls="--")
    s_id = scores["id"][np.isfinite(scores["id"])]
    for name, v in scores.items():
        if name == "id":
            continue
        v = v[np.isfinite(v)]
        y = np.r_[np.zeros(len(s_id)), np.ones(len(v))]
        fpr, tpr, _ = roc_curve(y, np.r_[s_id, v])
        ax.plot(fpr, tpr, lw=1.5, label=name)
    ax.set(
        xlim=(0, 1),
        ylim=(0, 1.01),
        xlabel="ID images flagged",
        ylabel="OOD images flagged",
        title=title,
    )
    ax.legend(loc="lower right", fontsize=7)
    return to_png(fig)


def ood_section(result: BenchmarkResult, *, plots: bool = True) -> TableSection:
    """The OOD section of a report (see the module docstring)."""
    data = {"id_accuracy": result.id_accuracy, "meta": result.meta, "rows": result.rows}
    figures: list[tuple[str, bytes]] = []
    if plots:
        for scorer, scores in result.scores.items():
            figures.append((f"{scorer}: score histograms", histogram_png(scores, scorer)))
            figures.append((f"{scorer}: ROC", ood_roc_png(scores, scorer)))
    note = f"{NOTE} ID accuracy {100 * result.id_accuracy:.2f}%."
    return TableSection(KEY, TITLE, jsonable(data), _tables(result.rows), note, figures)


@SECTIONS.register(KEY)
def _load(payload: Any) -> TableSection:
    rows = list(payload.get("rows", [])) if isinstance(payload, dict) else []
    acc = payload.get("id_accuracy") if isinstance(payload, dict) else None
    note = NOTE if acc is None else f"{NOTE} ID accuracy {100 * acc:.2f}%."
    return TableSection(KEY, TITLE, payload, _tables(rows), note)


def write_ood_report(result: BenchmarkResult, directory: str | Path) -> list[Path]:
    """Write report.json (``ood``: rows, ``id_accuracy``, ``meta``), report.md, report.html and PNGs."""
    directory = Path(directory)
    section = ood_section(result)
    written = [
        atomic_write_json(
            directory / "report.json",
            {
                "ood": jsonable(result.rows),
                "id_accuracy": jsonable(result.id_accuracy),
                "meta": jsonable(result.meta),
            },
        )
    ]
    md = [f"# OOD benchmark ({result.meta.get('preset', '')})", "", *section.markdown()]
    for i, (caption, png) in enumerate(section.plots):
        name = f"figures/ood_{i:02d}.png"
        written.append(atomic_write_bytes(directory / name, png))
        md += [f"![{caption}]({name})", ""]
    written.append(atomic_write_text(directory / "report.md", "\n".join(md) + "\n"))
    body = section.html()
    if "<img" not in body:  # sections that do not embed their plots
        body += "".join(
            f'<figure><img src="{data_uri(png)}"><figcaption>{html.escape(c)}</figcaption></figure>'
            for c, png in section.plots
        )
    page = f"<!doctype html><html><head><meta charset='utf-8'><title>{TITLE}</title></head><body>{body}</body></html>\n"
    written.append(atomic_write_text(directory / "report.html", page))
    return written
