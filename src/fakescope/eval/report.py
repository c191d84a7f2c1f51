"""The evaluation :class:`Report`: a tidy metrics table plus JSON / Markdown / HTML renderings.

``Report.metrics`` has one row per (train source, tier, tier value, evaluated
generator) - the :data:`~fakescope.eval.metrics.KEY_COLUMNS` - and one column
per metric (:data:`~fakescope.eval.metrics.METRIC_COLUMNS`). Undefined metrics
are NaN in the frame, ``null`` in JSON and ``-`` in Markdown/HTML.
``Report.scores`` (optional) keeps the clean-tier P(fake) of every test file;
the HTML report draws its ROC curves from it. Files are written atomically.
``meta["attribution"]`` (the ``attribution`` protocol) is rendered as tables.
"""

from __future__ import annotations

import html
import json
import math
import os
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fakescope.data.schema import LABEL, PATH
from fakescope.errors import DataError
from fakescope.eval.metrics import (
    ACC_AT_VAL,
    ACCURACY,
    AP,
    AUC,
    CLEAN,
    COUNT_COLUMNS,
    DESCRIPTIONS,
    GENERATOR,
    KEY_COLUMNS,
    METRIC_COLUMNS,
    OVERALL,
    TIER,
    TRAIN,
    VALUE,
    group_masks,
    normalise_frame,
)

#: Columns of ``Report.scores`` (one row per test file and train source, clean tier).
P_FAKE = "p_fake"
ERROR = "error"
SCORE_COLUMNS: tuple[str, ...] = (TRAIN, PATH, LABEL, GENERATOR, P_FAKE, ERROR)
#: Metrics shown as train x test matrices when a report has several train sources.
MATRIX_METRICS: tuple[str, ...] = (AUC, AP, ACCURACY, ACC_AT_VAL)
#: ``meta`` key of attribution results (see :mod:`fakescope.eval.attribution`), shown as tables.
ATTRIBUTION = "attribution"
FORMAT = 1


def atomic_write(path: Path, data: str | bytes) -> Path:
    """Write ``data`` to ``path`` via a temp file in the same folder and ``os.replace``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data.encode("utf-8") if isinstance(data, str) else data)
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _jsonable(value: Any) -> Any:
    """Python scalars for JSON: NaN/inf -> None, numpy scalars -> int/float."""
    if isinstance(value, float | np.floating):
        return None if not math.isfinite(float(value)) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, str | int | bool):
        return value
    return str(value)


def _fmt(column: str, value: Any) -> str:
    """One cell for Markdown/HTML: NaN -> "-", counts as ints, metrics with 3 decimals."""
    if value is None or (isinstance(value, float | np.floating) and math.isnan(float(value))):
        return "-"
    if column in COUNT_COLUMNS:
        return str(int(value))
    if column == VALUE:
        return f"{float(value):g}"
    if isinstance(value, float | np.floating):
        return f"{float(value):.3f}"
    return str(value)


@dataclass
class Report:
    """Evaluation results: tidy ``metrics`` table, free-form ``meta``, optional per-file ``scores``."""

    metrics: pd.DataFrame
    meta: dict[str, Any] = field(default_factory=dict)
    scores: pd.DataFrame | None = None

    def __post_init__(self) -> None:
        missing = [c for c in (*KEY_COLUMNS, *METRIC_COLUMNS) if c not in self.metrics.columns]
        if missing:
            raise DataError(f"a metrics table needs column(s) {', '.join(missing)}")
        self.metrics = normalise_frame(self.metrics[[*KEY_COLUMNS, *METRIC_COLUMNS]])

    # ------------------------------------------------------------ queries
    @classmethod
    def concat(cls, reports: Iterable[Report], meta: dict[str, Any] | None = None) -> Report:
        """One report from several (rows appended in order; ``meta`` replaces theirs)."""
        parts = list(reports)
        if not parts:
            raise ValueError("Report.concat needs at least one report")
        scores = [r.scores for r in parts if r.scores is not None]
        return cls(
            metrics=pd.concat([r.metrics for r in parts], ignore_index=True),
            meta=dict(meta if meta is not None else parts[0].meta),
            scores=pd.concat(scores, ignore_index=True) if scores else None,
        )

    def to_frame(self) -> pd.DataFrame:
        """A copy of the tidy metrics table."""
        return self.metrics.copy()

    @property
    def sources(self) -> list[str]:
        """Train sources in order of appearance."""
        return list(dict.fromkeys(self.metrics[TRAIN]))

    @property
    def tiers(self) -> list[tuple[str, float]]:
        """``(tier, value)`` pairs in order of appearance (value NaN for clean)."""
        pairs = self.metrics[[TIER, VALUE]].drop_duplicates()
        return [(str(t), float(v)) for t, v in pairs.itertuples(index=False, name=None)]

    def select(self, tier: str = CLEAN, value: float | None = None) -> pd.DataFrame:
        """Rows of one tier (``value`` None = every value of that tier)."""
        rows = self.metrics[self.metrics[TIER] == tier]
        if value is not None:
            rows = rows[np.isclose(rows[VALUE].to_numpy(dtype=float), value)]
        return rows.reset_index(drop=True)

    def matrix(
        self, metric: str = AUC, tier: str = CLEAN, value: float | None = None
    ) -> pd.DataFrame:
        """``metric`` as a train source x tested generator matrix ([S, G]; :data:`OVERALL` left out)."""
        if metric not in METRIC_COLUMNS:
            raise DataError(
                f"unknown metric {metric!r}; choose one of: {', '.join(METRIC_COLUMNS)}"
            )
        rows = self.select(tier, value)
        rows = rows[rows[GENERATOR] != OVERALL]
        columns = sorted(dict.fromkeys(rows[GENERATOR]))
        out = rows.pivot_table(
            index=TRAIN, columns=GENERATOR, values=metric, aggfunc="first", dropna=False
        )
        out = out.reindex(index=[s for s in self.sources if s in set(rows[TRAIN])], columns=columns)
        out.index.name, out.columns.name = "train", "test"
        return out.astype(float)

    # ------------------------------------------------------------- JSON
    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict: ``format``, ``meta``, ``metrics`` (records; NaN -> None)."""
        records = [
            {k: _jsonable(v) for k, v in row.items()}
            for row in self.metrics.to_dict(orient="records")
        ]
        return {"format": FORMAT, "meta": _jsonable(self.meta), "metrics": records}

    def to_json(self, indent: int | None = 2) -> str:
        """Strict JSON (no NaN tokens: undefined metrics are ``null``)."""
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False)

    @classmethod
    def from_json(cls, text: str) -> Report:
        """Inverse of :meth:`to_json` (``scores`` are not part of the JSON)."""
        try:
            raw = json.loads(text)
            records = raw["metrics"]
            meta = raw.get("meta", {})
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise DataError(
                f"not a fakescope report JSON ({exc}); pass a file written by Report.write"
            ) from None
        frame = pd.DataFrame.from_records(records, columns=[*KEY_COLUMNS, *METRIC_COLUMNS])
        return cls(metrics=frame, meta=meta)

    # ---------------------------------------------------------- Markdown
    def _sections(self) -> list[tuple[str, pd.DataFrame, list[str]]]:
        """``(title, rows, columns)`` for the tables shown in Markdown and HTML."""
        multi = len(self.sources) > 1
        clean_cols = [*([TRAIN] if multi else []), GENERATOR, *METRIC_COLUMNS]
        out = [("Metrics (clean images)", self.select(CLEAN), clean_cols)]
        degraded = self.metrics[self.metrics[TIER] != CLEAN]
        if len(degraded):
            out.append(
                ("Robustness (degraded test images)", degraded, [*KEY_COLUMNS, *METRIC_COLUMNS])
            )
        if ATTRIBUTION in self.meta:  # lazy import: the attribution module imports this one
            from fakescope.eval.attribution import attribution_tables

            tables = attribution_tables(self.meta[ATTRIBUTION])
            out += [(title, frame, list(frame.columns)) for title, frame in tables]
        return out

    def _meta_lines(self) -> list[tuple[str, str]]:
        return [
            (str(k), json.dumps(_jsonable(v)) if not isinstance(v, str) else v)
            for k, v in self.meta.items()
            if k != ATTRIBUTION  # shown as tables
        ]

    def to_markdown(self) -> str:
        """GitHub-flavoured Markdown: meta, train x test matrices (several sources), metric tables."""
        lines = ["# fakescope evaluation report", ""]
        lines += [f"- **{k}**: {v}" for k, v in self._meta_lines()]
        lines.append("")
        if len(self.sources) > 1:
            for metric in MATRIX_METRICS:
                lines += [f"## {metric}: trained on (rows) x tested on (columns)", ""]
                lines += [*_md_matrix(self.matrix(metric)), ""]
        for title, rows, cols in self._sections():
            lines += [f"## {title}", "", *_md_table(rows, cols), ""]
        lines += ["## Definitions", "", *(f"- `{k}`: {v}" for k, v in DESCRIPTIONS.items())]
        return "\n".join(lines) + "\n"

    # -------------------------------------------------------------- HTML
    def roc_curves(self, source: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Clean-tier ``group -> (y [N], p_fake [N])`` of one train source (empty without scores)."""
        if self.scores is None:
            return {}
        rows = self.scores[self.scores[TRAIN] == source]
        y = rows[LABEL].to_numpy(dtype=int)
        p = rows[P_FAKE].to_numpy(dtype=float)
        masks = group_masks(y, rows[GENERATOR].fillna("").astype(str).to_numpy())
        return {name: (y[m], p[m]) for name, m in masks.items()}

    def to_html(self) -> str:
        """A self-contained HTML page: tables plus PNG plots embedded as base64 (no external links)."""
        from fakescope.eval import plots

        def img(png: bytes, alt: str) -> str:
            return f'<img alt="{html.escape(alt)}" src="{plots.data_uri(png)}">'

        body = ["<h1>fakescope evaluation report</h1>", "<table class='meta'>"]
        body += [
            f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>"
            for k, v in self._meta_lines()
        ]
        body.append("</table>")
        if len(self.sources) > 1:
            body.append("<h2>Cross-generator matrices (clean images)</h2>")
            for metric in MATRIX_METRICS:
                matrix = self.matrix(metric)
                body.append(
                    img(plots.heatmap_png(matrix, f"{metric}: trained on x tested on"), metric)
                )
                body.append(_html_matrix(matrix, metric))
        curves = [(s, self.roc_curves(s)) for s in self.sources]
        if any(c for _, c in curves):
            body.append("<h2>ROC curves (clean images)</h2><div class='plots'>")
            body += [img(plots.roc_png(c, f"trained on {s}"), f"ROC {s}") for s, c in curves if c]
            body.append("</div>")
        degraded = self.metrics[self.metrics[TIER] != CLEAN]
        if len(degraded):
            overall = self.metrics[self.metrics[GENERATOR] == OVERALL]
            body.append("<h2>Robustness (all test images)</h2>")
            body.append(img(plots.robustness_png(overall, AUC), "robustness"))
        for title, rows, cols in self._sections():
            body += [f"<h2>{html.escape(title)}</h2>", _html_table(rows, cols)]
        body.append("<h2>Definitions</h2><dl>")
        body += [
            f"<dt>{html.escape(k)}</dt><dd>{html.escape(v)}</dd>" for k, v in DESCRIPTIONS.items()
        ]
        body.append("</dl>")
        return (
            "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
            f"<title>fakescope evaluation report</title><style>{_CSS}</style></head>\n<body>\n"
            + "\n".join(body)
            + "\n</body></html>\n"
        )

    # ------------------------------------------------------------ files
    def write(self, directory: str | Path, *, html_report: bool = True) -> dict[str, Path]:
        """Write ``report.json``, ``report.md``, ``report.html`` and ``scores.csv`` (when kept).

        Every file is written atomically; returns ``{kind: path}``.
        """
        out = Path(directory).expanduser()
        files = {
            "json": atomic_write(out / "report.json", self.to_json()),
            "markdown": atomic_write(out / "report.md", self.to_markdown()),
        }
        if html_report:
            files["html"] = atomic_write(out / "report.html", self.to_html())
        if self.scores is not None:
            files["scores"] = atomic_write(out / "scores.csv", self.scores.to_csv(index=False))
        return files


def _md_row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"


def _md_table(rows: pd.DataFrame, columns: list[str]) -> list[str]:
    out = [_md_row(columns), _md_row(["---"] * len(columns))]
    out += [_md_row([_fmt(c, row[c]) for c in columns]) for _, row in rows.iterrows()]
    return out


def _md_matrix(matrix: pd.DataFrame) -> list[str]:
    header = ["train \\ test", *[str(c) for c in matrix.columns]]
    out = [_md_row(header), _md_row(["---"] * len(header))]
    for name, row in matrix.iterrows():
        out.append(_md_row([str(name), *[_fmt("", v) for v in row.to_numpy()]]))
    return out


def _html_table(rows: pd.DataFrame, columns: list[str]) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_fmt(c, row[c]))}</td>" for c in columns) + "</tr>"
        for _, row in rows.iterrows()
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _html_matrix(matrix: pd.DataFrame, metric: str) -> str:
    head = f"<th>{html.escape(metric)}: train \\ test</th>" + "".join(
        f"<th>{html.escape(str(c))}</th>" for c in matrix.columns
    )
    body = "".join(
        f"<tr><th>{html.escape(str(name))}</th>"
        + "".join(f"<td>{_fmt('', v)}</td>" for v in row.to_numpy())
        + "</tr>"
        for name, row in matrix.iterrows()
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


_CSS = (
    "body{font-family:system-ui,sans-serif;margin:2em;color:#222}"
    "table{border-collapse:collapse;margin:1em 0;font-size:13px}"
    "th,td{border:1px solid #ccc;padding:3px 8px;text-align:right}"
    "th{background:#f3f3f3}table.meta th,table.meta td{text-align:left}"
    ".plots img,img{max-width:100%;margin:4px}"
)
