"""The evaluation :class:`Report`: a tidy metrics table plus JSON / Markdown / HTML renderings.

``Report.metrics`` has one row per (train source, tier, tier value, evaluated
generator) - the :data:`~fakescope.eval.metrics.KEY_COLUMNS` - and one column
per metric (:data:`~fakescope.eval.metrics.METRIC_COLUMNS`). Undefined metrics
are NaN in the frame, ``null`` in JSON and ``-`` in Markdown/HTML.
``Report.scores`` (optional) keeps the clean-tier P(fake) of every test file;
the HTML report draws its ROC curves from it. Files are written atomically
(:mod:`fakescope.fileio`).

Markdown and HTML open with a plain-words summary of the headline numbers
(:mod:`fakescope.eval.report_summary`); the raw ``meta`` (detector params,
thresholds, ...) follows in a collapsed ``<details>`` block. No rendering
carries an absolute path: each is rewritten relative to ``base`` (the output
folder, :meth:`Report.write` passes it) or the working directory, else to its
name (:mod:`fakescope.eval.report_paths`).

``Report.sections`` holds the result blocks a protocol adds (attribution,
OOD, calibration, ...): each is a :class:`~fakescope.eval.sections.Section`
that renders itself; this module never imports a protocol module. How to add
one: see :mod:`fakescope.eval.sections`. In ``report.json`` (``format`` 2) each
section is a top-level key; a format-1 file's ``meta["attribution"]`` is read
back as the attribution section.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable
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
from fakescope.eval.report_paths import portable_text, portable_value
from fakescope.eval.report_summary import summary_sentences
from fakescope.eval.sections import (
    RESERVED_KEYS,
    SECTIONS,
    Section,
    fmt_cell,
    html_table,
    img_tag,
    jsonable,
    load_section,
    md_row,
    md_table,
)
from fakescope.fileio import atomic_write_text

#: Columns of ``Report.scores`` (one row per test file and train source, clean tier).
P_FAKE = "p_fake"
#: The file :meth:`Report.write` keeps ``Report.scores`` in.
SCORES_FILE = "scores.csv"
ERROR = "error"
SCORE_COLUMNS: tuple[str, ...] = (TRAIN, PATH, LABEL, GENERATOR, P_FAKE, ERROR)
#: Metrics shown as train x test matrices when a report has several train sources.
MATRIX_METRICS: tuple[str, ...] = (AUC, AP, ACCURACY, ACC_AT_VAL)
#: ``report.json`` format: 2 = sections as top-level keys (1 = attribution inside ``meta``).
FORMAT = 2
#: Caption of the collapsed block that holds the raw ``meta``.
PARAMS_TITLE = "Run parameters (detector settings, thresholds, protocol details)"


@dataclass
class Report:
    """Evaluation results: tidy ``metrics`` table, free-form ``meta``, optional per-file
    ``scores`` and protocol ``sections`` (rendered after the metrics tables, in order)."""

    metrics: pd.DataFrame
    meta: dict[str, Any] = field(default_factory=dict)
    scores: pd.DataFrame | None = None
    sections: list[Section] = field(default_factory=list)

    def __post_init__(self) -> None:
        missing = [c for c in (*KEY_COLUMNS, *METRIC_COLUMNS) if c not in self.metrics.columns]
        if missing:
            raise DataError(f"a metrics table needs column(s) {', '.join(missing)}")
        self.metrics = normalise_frame(self.metrics[[*KEY_COLUMNS, *METRIC_COLUMNS]])
        self.sections = list(self.sections)
        _check_keys(self.sections)

    def add_section(self, section: Section) -> None:
        """Append ``section`` (its key must be new and not ``format``/``meta``/``metrics``)."""
        _check_keys([*self.sections, section])
        self.sections.append(section)

    def section(self, key: str) -> Section | None:
        """The section stored under ``key`` (None when the report has none)."""
        return next((s for s in self.sections if s.key == key), None)

    # ------------------------------------------------------------ queries
    @classmethod
    def concat(cls, reports: Iterable[Report], meta: dict[str, Any] | None = None) -> Report:
        """One report from several (rows and sections appended in order; ``meta`` replaces theirs)."""
        parts = list(reports)
        if not parts:
            raise ValueError("Report.concat needs at least one report")
        scores = [r.scores for r in parts if r.scores is not None]
        return cls(
            metrics=pd.concat([r.metrics for r in parts], ignore_index=True),
            meta=dict(meta if meta is not None else parts[0].meta),
            scores=pd.concat(scores, ignore_index=True) if scores else None,
            sections=[s for r in parts for s in r.sections],
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
    def to_dict(self, base: str | Path | None = None) -> dict[str, Any]:
        """JSON-ready dict: ``format``, ``meta``, ``metrics`` (records; NaN -> None), one key per
        section; absolute paths made relative to ``base`` / the cwd (or cut to names)."""
        records = [
            {k: jsonable(v) for k, v in row.items()}
            for row in self.metrics.to_dict(orient="records")
        ]
        out = {"format": FORMAT, "meta": jsonable(self.meta), "metrics": records}
        out |= {s.key: jsonable(s.payload()) for s in self.sections}
        portable: dict[str, Any] = portable_value(out, base)
        return portable

    def to_json(self, indent: int | None = 2, base: str | Path | None = None) -> str:
        """Strict JSON (no NaN tokens: undefined metrics are ``null``; no absolute paths)."""
        return json.dumps(self.to_dict(base), indent=indent, allow_nan=False)

    @classmethod
    def from_json(cls, text: str) -> Report:
        """Inverse of :meth:`to_json` (``scores`` are not part of the JSON).

        Sections come back through their registered loaders (:data:`~fakescope.eval.sections.SECTIONS`);
        in a format-1 file, ``meta`` keys with a registered loader (``attribution``) become sections.
        """
        try:
            raw = json.loads(text)
            records = raw["metrics"]
            meta = dict(raw.get("meta", {}))
            extra = {k: v for k, v in raw.items() if k not in RESERVED_KEYS}
        except (json.JSONDecodeError, KeyError, TypeError, AttributeError, ValueError) as exc:
            raise DataError(
                f"not a fakescope report JSON ({exc}); pass a file written by Report.write"
            ) from None
        if raw.get("format", 1) == 1:
            extra |= {k: meta.pop(k) for k in list(meta) if k in SECTIONS}
        frame = pd.DataFrame.from_records(records, columns=[*KEY_COLUMNS, *METRIC_COLUMNS])
        sections = [load_section(k, v) for k, v in extra.items()]
        return cls(metrics=frame, meta=meta, sections=sections)

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
        return out

    def _meta_lines(self, indent: int | None = None) -> list[tuple[str, str]]:
        return [
            (str(k), json.dumps(jsonable(v), indent=indent) if not isinstance(v, str) else v)
            for k, v in self.meta.items()
        ]

    def to_markdown(self, base: str | Path | None = None) -> str:
        """GitHub-flavoured Markdown: the summary, meta (collapsed), train x test matrices
        (several sources), metric tables, sections; no absolute paths (see ``to_dict``)."""
        lines = ["# fakescope evaluation report", "", "## Summary", ""]
        lines += [f"- {sentence}" for sentence in summary_sentences(self)]
        lines += ["", f"<details><summary>{PARAMS_TITLE}</summary>", ""]
        lines += [f"- **{k}**: {v}" for k, v in self._meta_lines()]
        lines += ["", "</details>", ""]
        if len(self.sources) > 1:
            for metric in MATRIX_METRICS:
                lines += [f"## {metric}: trained on (rows) x tested on (columns)", ""]
                lines += [*_md_matrix(self.matrix(metric)), ""]
        for title, rows, cols in self._sections():
            lines += [f"## {title}", "", *md_table(rows, cols), ""]
        for section in self.sections:
            lines += section.markdown()
        lines += ["## Definitions", "", *(f"- `{k}`: {v}" for k, v in DESCRIPTIONS.items())]
        return portable_text("\n".join(lines) + "\n", base)

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

    def to_html(self, base: str | Path | None = None) -> str:
        """A self-contained HTML page: the summary first, meta in a collapsed ``<details>``, then
        tables plus PNG plots embedded as base64 (no external links, no absolute paths)."""
        # matplotlib: imported only when HTML is drawn
        from fakescope.eval.plots import heatmap_png, robustness_png, roc_png

        img = img_tag
        items = "".join(f"<li>{html.escape(s)}</li>" for s in summary_sentences(self))
        body = [
            "<section id='summary'><h1>fakescope evaluation report</h1>"
            f"<ul class='summary'>{items}</ul></section>",
            f"<details class='params'><summary>{PARAMS_TITLE}</summary><table class='meta'>",
        ]
        body += [
            f"<tr><th>{html.escape(k)}</th><td><pre>{html.escape(v)}</pre></td></tr>"
            for k, v in self._meta_lines(indent=2)
        ]
        body.append("</table></details>")
        if len(self.sources) > 1:
            body.append("<h2>Cross-generator matrices (clean images)</h2>")
            for metric in MATRIX_METRICS:
                matrix = self.matrix(metric)
                body.append(img(heatmap_png(matrix, f"{metric}: trained on x tested on"), metric))
                body.append(_html_matrix(matrix, metric))
        curves = [(s, self.roc_curves(s)) for s in self.sources]
        if any(c for _, c in curves):
            body.append("<h2>ROC curves (clean images)</h2><div class='plots'>")
            body += [img(roc_png(c, f"trained on {s}"), f"ROC {s}") for s, c in curves if c]
            body.append("</div>")
        degraded = self.metrics[self.metrics[TIER] != CLEAN]
        if len(degraded):
            overall = self.metrics[self.metrics[GENERATOR] == OVERALL]
            body.append("<h2>Robustness (all test images)</h2>")
            body.append(img(robustness_png(overall, AUC), "robustness"))
        for title, rows, cols in self._sections():
            body += [f"<h2>{html.escape(title)}</h2>", html_table(rows, cols)]
        body += [section.html() for section in self.sections]
        body.append("<h2>Definitions</h2><dl>")
        body += [
            f"<dt>{html.escape(k)}</dt><dd>{html.escape(v)}</dd>" for k, v in DESCRIPTIONS.items()
        ]
        body.append("</dl>")
        page = (
            "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
            f"<title>fakescope evaluation report</title><style>{_CSS}</style></head>\n<body>\n"
            + "\n".join(body)
            + "\n</body></html>\n"
        )
        return portable_text(page, base)

    # ------------------------------------------------------------ files
    def write(self, directory: str | Path, *, html_report: bool = True) -> dict[str, Path]:
        """Write ``report.json``, ``report.md``, ``report.html`` and ``scores.csv`` (when kept).

        Every file is written atomically; returns ``{kind: path}``. Paths in the report
        files are relative to ``directory`` or the cwd, else bare names (``scores.csv``
        keeps the test files' paths as given: it is per-file data for re-analysis).
        """
        out = Path(directory).expanduser()
        files = {
            "json": atomic_write_text(out / "report.json", self.to_json(base=out)),
            "markdown": atomic_write_text(out / "report.md", self.to_markdown(base=out)),
        }
        if html_report:
            files["html"] = atomic_write_text(out / "report.html", self.to_html(base=out))
        if self.scores is not None:
            csv = self.scores.to_csv(index=False)
            files["scores"] = atomic_write_text(out / SCORES_FILE, csv)
        return files


def _check_keys(sections: list[Section]) -> None:
    """Section keys must be unique and not a reserved report.json key (one-line DataError)."""
    keys = [s.key for s in sections]
    bad = sorted({k for k in keys if keys.count(k) > 1 or k in RESERVED_KEYS})
    if bad:
        raise DataError(
            f"report section key(s) {bad} are duplicated or reserved; give each section its own key"
        )


def _md_matrix(matrix: pd.DataFrame) -> list[str]:
    header = ["train \\ test", *[str(c) for c in matrix.columns]]
    out = [md_row(header), md_row(["---"] * len(header))]
    for name, row in matrix.iterrows():
        out.append(md_row([str(name), *[fmt_cell("", v) for v in row.to_numpy()]]))
    return out


def _html_matrix(matrix: pd.DataFrame, metric: str) -> str:
    head = f"<th>{html.escape(metric)}: train \\ test</th>" + "".join(
        f"<th>{html.escape(str(c))}</th>" for c in matrix.columns
    )
    body = "".join(
        f"<tr><th>{html.escape(str(name))}</th>"
        + "".join(f"<td>{fmt_cell('', v)}</td>" for v in row.to_numpy())
        + "</tr>"
        for name, row in matrix.iterrows()
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


_CSS = (
    "body{font-family:system-ui,sans-serif;margin:2em;color:#222}"
    "table{border-collapse:collapse;margin:1em 0;font-size:13px}"
    "th,td{border:1px solid #ccc;padding:3px 8px;text-align:right}"
    "th{background:#f3f3f3}table.meta th,table.meta td{text-align:left;vertical-align:top}"
    "table.meta pre{margin:0;white-space:pre-wrap}"
    "#summary ul{font-size:15px;line-height:1.5;max-width:60em}"
    "details.params{margin:1em 0}details.params>summary{cursor:pointer;color:#555}"
    ".plots img,img{max-width:100%;margin:4px}"
)
