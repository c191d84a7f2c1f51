"""``report.json`` / ``report.md`` / ``report.html`` of a continual run, and the docs page.

``report.json``::

    {"tasks": [...], "settings": {...}, "command": "...",
     "methods": {"<method>": {"auc": [[...]], "acc": [[...]],   # T x T, null above the diagonal
                              "ap": [[...]],                   # average precision, same shape
                              "aa": .., "af": .., "bwt": ..,   # on AUC
                              "aa_acc": .., "af_acc": .., "bwt_acc": ..,
                              "pl": .., "pl_acc": ..,          # plasticity: mean diagonal
                              "map": ..,                       # mean AP of the last row
                              "finished": k, "seconds": s}}}

Row i of a matrix = after training task i, column j = tested on task j; rows
of tasks a method has not finished are all null. Figures (PNG, matplotlib):
``figures/<method>-auc.png`` / ``-acc.png`` heatmaps and
``figures/auc-over-sequence.png`` (one panel per method, one line per task).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from fakescope.continual.metrics import as_square, average_accuracy, plasticity, summary
from fakescope.errors import FakescopeError
from fakescope.eval.plots import data_uri, heatmap_png, to_png
from fakescope.fileio import atomic_write_bytes, atomic_write_json, atomic_write_text

REPORT = "report.json"
FIGURES = "figures"


def _clean(v: float) -> float | None:
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else round(float(v), 6)


def padded(rows: Sequence[Sequence[float]], t: int) -> list[list[float | None]]:
    """``rows`` as T rows of T entries (None above the diagonal and for missing rows)."""
    square = as_square(list(rows) + [[] for _ in range(t - len(rows))])
    return [[_clean(v) for v in row] for row in square]


def method_entry(
    auc: Sequence[Sequence[float]],
    acc: Sequence[Sequence[float]],
    ap: Sequence[Sequence[float]],
    t: int,
    seconds: float,
) -> dict[str, Any]:
    """One method's ``report.json`` entry (metrics over the finished rows)."""
    entry: dict[str, Any] = {"auc": padded(auc, t), "acc": padded(acc, t), "ap": padded(ap, t)}
    entry.update({k: _clean(v) if v is not None else None for k, v in summary(auc, acc).items()})
    mean_ap = average_accuracy(ap)
    entry["map"] = None if mean_ap is None else _clean(mean_ap)
    entry["finished"] = len(auc)
    entry["seconds"] = round(seconds, 1)
    return entry


def read_report(out: Path) -> dict[str, Any]:
    """``<out>/report.json``; one-line error when absent."""
    path = out / REPORT
    if not path.is_file():
        raise FakescopeError(
            f"no {REPORT} in {out}; run 'fakescope continual' with --out {out} first"
        )
    report: dict[str, Any] = json.loads(path.read_text())
    return report


def _frame(matrix: list[list[float | None]], tasks: list[str]) -> pd.DataFrame:
    labels = [f"{i + 1}. {t}" for i, t in enumerate(tasks)]
    return pd.DataFrame(
        [[math.nan if v is None else v for v in row] for row in matrix],
        index=labels,
        columns=labels,
    )


def sequence_png(report: dict[str, Any]) -> bytes:
    """Each task's AUC after every training step; one panel per method, side by side."""
    tasks: list[str] = report["tasks"]
    methods = report["methods"]
    n = max(len(methods), 1)
    fig = Figure(figsize=(3.2 * n, 3.0))
    steps = list(range(1, len(tasks) + 1))
    for k, (name, entry) in enumerate(methods.items()):
        ax = fig.add_subplot(1, n, k + 1)
        for j, task in enumerate(tasks):
            ys = [row[j] if row[j] is not None else math.nan for row in entry["auc"]]
            ax.plot(steps, ys, marker="o", ms=3, lw=1.2, label=task)
        ax.set(title=name, xlabel="after task", ylim=(0.0, 1.02), xticks=steps)
        if k == 0:
            ax.set_ylabel("AUC")
    if methods:
        fig.axes[-1].legend(fontsize=6, loc="lower left")
    return to_png(fig)


def write_figures(report: dict[str, Any], out: Path) -> dict[str, bytes]:
    """Write the heatmaps and the sequence plot to ``out/figures``; returns name -> PNG."""
    figs: dict[str, bytes] = {}
    tasks = report["tasks"]
    for name, entry in report["methods"].items():
        for metric in ("auc", "acc"):
            title = f"{name}: {'AUC' if metric == 'auc' else 'accuracy'}"
            figs[f"{name}-{metric}.png"] = heatmap_png(_frame(entry[metric], tasks), title)
    figs["auc-over-sequence.png"] = sequence_png(report)
    for fname, png in figs.items():
        atomic_write_bytes(out / FIGURES / fname, png)
    return figs


def _num(v: float | None) -> str:
    return "-" if v is None else f"{v:.3f}"


def summary_table(report: dict[str, Any]) -> list[str]:
    """Markdown table: method, AA, AF, PL, BWT (AUC) and AA, AF (accuracy), tasks finished."""
    lines = [
        "| method | AA (AUC) | AF (AUC) | PL (AUC) | BWT (AUC) | AA (acc) | AF (acc) | mAP "
        "| tasks | seconds |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    t = len(report["tasks"])
    for name, e in report["methods"].items():
        lines.append(
            f"| {name} | {_num(e['aa'])} | {_num(e['af'])} | {_num(e.get('pl'))} | "
            f"{_num(e['bwt'])} | "
            f"{_num(e['aa_acc'])} | {_num(e['af_acc'])} | {_num(e.get('map'))} | "
            f"{e['finished']}/{t} | {e['seconds']} |"
        )
    return lines


def matrix_table(matrix: list[list[float | None]], tasks: list[str]) -> list[str]:
    """Markdown table of a T x T matrix (rows: after task i; columns: tested on task j)."""
    head = "| after \\ on | " + " | ".join(tasks) + " |"
    lines = [head, "|---" * (len(tasks) + 1) + "|"]
    for i, row in enumerate(matrix):
        lines.append(f"| {i + 1}. {tasks[i]} | " + " | ".join(_num(v) for v in row) + " |")
    return lines


def markdown(report: dict[str, Any], *, figures: str | None = FIGURES) -> str:
    """The report as Markdown; ``figures``: folder of the PNGs to link (None = no images)."""
    tasks = report["tasks"]
    lines = [
        "# Continual learning: " + " -> ".join(tasks),
        "",
        "Row i = after training task i, column j = tested on task j (test split, "
        "val when a task has none). AA = mean of the last row; AF = mean over earlier "
        "tasks of (best earlier score - final score); PL (plasticity) = mean of the "
        "diagonal, the score on each task right after learning it (low AF with low PL "
        "means the task was never learnt, not that it was kept); "
        "BWT = mean of (final - just learnt); "
        "mAP = mean average precision of the last row.",
        "",
    ]
    if report.get("command"):
        lines += ["Command:", "", f"    {report['command']}", ""]
    lines += [*summary_table(report), ""]
    if figures:
        lines += [f"![AUC over the sequence]({figures}/auc-over-sequence.png)", ""]
    for name, e in report["methods"].items():
        lines += [f"## {name}", "", "AUC:", "", *matrix_table(e["auc"], tasks), ""]
        pl = ", ".join(f"{t} {_num(v)}" for t, v in zip(tasks, plasticity(e["auc"]), strict=True))
        lines += [f"Plasticity (AUC right after learning each task): {pl}", ""]
        lines += ["Accuracy (P(fake) >= 0.5):", "", *matrix_table(e["acc"], tasks), ""]
        if figures:
            lines += [f"![{name} AUC]({figures}/{name}-auc.png)", ""]
    return "\n".join(lines)


def html_page(report: dict[str, Any], figs: dict[str, bytes]) -> str:
    """A self-contained HTML page: the Markdown tables as <pre> blocks and embedded figures."""
    from html import escape

    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        "<title>fakescope continual report</title></head><body>",
        f"<h1>Continual learning: {escape(' -> '.join(report['tasks']))}</h1>",
        "<pre>" + escape("\n".join(summary_table(report))) + "</pre>",
    ]
    if "auc-over-sequence.png" in figs:
        parts.append(
            f"<img alt='AUC over the sequence' src='{data_uri(figs['auc-over-sequence.png'])}'>"
        )
    for name, e in report["methods"].items():
        parts.append(f"<h2>{escape(name)}</h2>")
        parts.append(
            "<pre>" + escape("\n".join(matrix_table(e["auc"], report["tasks"]))) + "</pre>"
        )
        for metric in ("auc", "acc"):
            key = f"{name}-{metric}.png"
            if key in figs:
                parts.append(f"<img alt='{escape(key)}' src='{data_uri(figs[key])}'>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(report: dict[str, Any], out: Path) -> Path:
    """Write report.json, the figures, report.md and report.html into ``out``."""
    atomic_write_json(out / REPORT, report)
    figs = write_figures(report, out)
    atomic_write_text(out / "report.md", markdown(report))
    atomic_write_text(out / "report.html", html_page(report, figs))
    return out / REPORT


def write_page(out: Path, page: Path) -> Path:
    """Write the docs page (Markdown tables, no images) from ``<out>/report.json``.

    The page names ``out`` and ``page`` as :func:`~fakescope.eval.results.portable_path`
    gives them (relative paths as typed, absolute ones inside the current folder made
    relative to it), so nothing machine-specific is written.
    """
    from fakescope.eval.results import portable_path

    report = read_report(out)
    text = markdown(report, figures=None)
    text = text.replace("# Continual learning:", "# Continual learning results:", 1)
    cmd = f"fakescope continual --out {portable_path(out)} --page {portable_path(page)}"
    text += f"\n\nGenerated by `{cmd}` from {REPORT}.\n"
    return atomic_write_text(page, text)
