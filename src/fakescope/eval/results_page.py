"""``docs/results.md`` from the run folders of :func:`fakescope.eval.results.run_plan`.

Every number is read from a ``report.json`` (metrics) or a ``run.json``
(seconds, command, machine, dataset paths); none is typed by hand. The page has

* a header of reproducible facts (:func:`~fakescope.eval.results_sections.header_lines`):
  the commands (page and runs) and the dataset paths made portable (relative
  to the repository, else ``.../NAME``; see
  :func:`~fakescope.eval.results.portable_path`), benchmark, run dates,
  fakescope/torch/timm/Python versions, CPU count and GPU model - never a
  host name, kernel string or temp path;
* per study (run folder ``<recipe>/<study>``): a heading with the study's
  title, protocol, dataset path and note
  (:func:`~fakescope.eval.results_sections.study_heading`); a summary
  (recipe, status, seconds, mean over unseen generators; the best mean unseen
  ROC-AUC in bold and, when the plan names a ``highlight`` recipe, a line
  comparing it with the best of the others); the test data's audit verdicts
  when the reports carry ``meta["audit"]``; recipe x test-generator tables of
  ROC-AUC, AP and accuracy at the validation threshold (clean images), plus a
  robustness table when the reports have degradation tiers;
* an attribution section for reports with an ``attribution`` section: end-to-end,
  balanced and binary accuracy, per-level accuracies of a hierarchy, and a
  row-normalised confusion matrix per model;
* the runs that are missing, failed or unfinished.

Scores are P(fake) (higher = more fake, class 0 = real): ROC-AUC and AP treat
fake as the positive class. *Unseen* generators of a train source: the test
generators outside ``meta["seen"][source]`` when the protocol records it,
else ``meta["held_out"][source]`` when it records that, else every generator
other than the source itself; the all-data source ``(all)`` has none.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fakescope.errors import FakescopeError
from fakescope.eval.attribution import ATTRIBUTION, END_TO_END, AttributionResult
from fakescope.eval.catalog import Report  # every section registered for from_json
from fakescope.eval.metrics import (
    ACC_AT_VAL,
    AP,
    AUC,
    CLEAN,
    GENERATOR,
    OVERALL,
    TIER,
    TRAIN,
    VALUE,
)
from fakescope.eval.report import P_FAKE, SCORES_FILE
from fakescope.eval.report_summary import seen_generators
from fakescope.eval.results import (
    ERROR_FILE,
    FAILED,
    OK,
    REPORT_FILE,
    RUN_FILE,
    RUNNING,
)
from fakescope.eval.results_plan import ResultsPlan
from fakescope.eval.results_sections import (
    MISSING,
    StudyView,
    audit_lines,
    bold_best,
    header_lines,
    highlight_lines,
    study_heading,
    study_view,
)
from fakescope.eval.results_sections import md_table as _table
from fakescope.eval.results_sections import number as _num
from fakescope.fileio import atomic_write_text

#: Metrics shown as recipe x test-generator tables, with their headings.
PAGE_METRICS: tuple[tuple[str, str], ...] = (
    (AUC, "ROC-AUC"),
    (AP, "AP"),
    (ACC_AT_VAL, "accuracy at the validation threshold"),
)
SEEN_MARK = "*"
MEAN_UNSEEN = "mean unseen"


@dataclass
class RunRecord:
    """One run folder ``<recipe>/<study>``: its ``run.json`` (``info``, {} when absent) and report."""

    recipe: str
    study: str
    directory: Path
    info: dict[str, Any] = field(default_factory=dict)
    report: Report | None = None
    problem: str = ""

    @property
    def protocol(self) -> str:
        """The protocol the run used (from ``run.json``; else the study name, as for plain ones)."""
        return str(self.info.get("protocol") or self.study)

    @property
    def status(self) -> str:
        """One of "ok" (has a report), "failed", "running" (unfinished), "missing"."""
        if self.report is not None:
            return OK
        if self.problem or self.info.get("status") == FAILED:
            return FAILED
        return RUNNING if self.info else MISSING

    @property
    def error(self) -> str:
        """The one-line reason of a failed run ("" otherwise)."""
        return self.problem or str(self.info.get("error") or "")


def _read_json(path: Path) -> dict[str, Any]:
    try:
        raw = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return {}
    return raw if isinstance(raw, dict) else {}


def read_run(directory: Path, recipe: str, study: str) -> RunRecord:
    """The :class:`RunRecord` of ``directory`` (an unreadable report counts as failed)."""
    record = RunRecord(recipe, study, directory, info=_read_json(directory / RUN_FILE))
    path = directory / REPORT_FILE
    if path.is_file():
        try:
            record.report = Report.from_json(path.read_text())
        except FakescopeError as exc:
            record.problem = f"unreadable {REPORT_FILE}: {exc}"
    return record


def collect_runs(out: Path, plan: ResultsPlan | None) -> list[RunRecord]:
    """The plan's runs in plan order (missing ones too); without a plan, every run folder found."""
    if plan is not None:
        return [read_run(out / r / s, r, s) for r, s in plan.runs()]
    found = sorted(
        {d.parent for name in (REPORT_FILE, RUN_FILE) for d in Path(out).glob(f"*/*/{name}")}
    )
    return [read_run(d, d.parent.name, d.name) for d in found]


# ------------------------------------------------------------- formatting
def _cell(value: Any, seen: bool) -> str:
    """A metric cell, marked with :data:`SEEN_MARK` for a generator seen in training."""
    text = _num(value)
    return text + SEEN_MARK if seen and text != "-" else text


def _mean(values: Iterable[float]) -> float:
    arr = np.asarray([v for v in values if not math.isnan(v)], dtype=float)
    return float(arr.mean()) if len(arr) else math.nan


# ------------------------------------------------------------ per protocol
@dataclass
class _Row:
    label: str
    record: RunRecord
    report: Report
    source: str
    values: dict[str, dict[str, float]]  # metric -> generator -> value (clean tier)
    seen: set[str]

    def unseen_mean(self, metric: str, tests: Sequence[str]) -> float:
        got = self.values[metric]
        return _mean(got[g] for g in tests if g not in self.seen and g in got)


def _rows(records: Sequence[RunRecord]) -> tuple[list[_Row], list[str]]:
    """One row per (recipe, train source) of the finished runs, and the sorted test generators."""
    rows: list[_Row] = []
    tests: set[str] = set()
    for rec in records:
        if rec.report is None:
            continue
        clean = rec.report.select(CLEAN)
        tests |= set(clean[GENERATOR]) - {OVERALL}
        sources = rec.report.sources
        for source in sources:
            part = clean[clean[TRAIN] == source].set_index(GENERATOR)
            values = {m: {str(g): float(v) for g, v in part[m].items()} for m, _ in PAGE_METRICS}
            label = rec.recipe if len(sources) == 1 else f"{rec.recipe} ({source})"
            rows.append(_Row(label, rec, rec.report, source, values, set()))
    ordered = sorted(tests)
    for row in rows:
        row.seen = seen_generators(row.report.meta, row.source, ordered)
    return rows, ordered


def _seconds(record: RunRecord) -> str:
    value = record.info.get("seconds")
    return "-" if value is None else f"{float(value):.1f}"


def _summary(
    records: Sequence[RunRecord], rows: Sequence[_Row], tests: Sequence[str]
) -> tuple[list[list[str]], dict[str, float]]:
    """Summary rows of a study and each recipe's mean unseen ROC-AUC (NaN when it has none)."""
    body, unseen_auc = [], {}
    for rec in records:
        own = [r for r in rows if r.record is rec]
        unseen_auc[rec.recipe] = _mean(r.unseen_mean(AUC, tests) for r in own)
        body.append(
            [
                rec.recipe,
                rec.status,
                _seconds(rec),
                str(len(own)) if own else "-",
                "",  # mean unseen ROC-AUC, filled in below (the best in bold)
                _num(_mean(r.unseen_mean(AP, tests) for r in own)),
                _num(_mean(r.values[AUC].get(OVERALL, math.nan) for r in own)),
            ]
        )
    for line, cell in zip(body, bold_best([unseen_auc[r.recipe] for r in records]), strict=True):
        line[4] = cell
    return body, unseen_auc


def _scores(record: RunRecord) -> pd.DataFrame | None:
    """The run's ``scores.csv`` (per-image P(fake) of the clean tier), None when absent."""
    path = record.directory / SCORES_FILE
    if not path.is_file():
        return None
    return pd.read_csv(
        path, dtype={GENERATOR: str}, keep_default_na=False, na_values={P_FAKE: [""]}
    )


def _highlight_interval(
    records: Sequence[RunRecord], unseen_auc: dict[str, float], highlight: str | None
) -> str:
    """The paired-bootstrap interval of ``highlight`` minus the best other recipe by
    ``unseen_auc`` ("" when a run, its scores or its held-out list is missing).

    Read from both runs' ``scores.csv``; see :mod:`fakescope.eval.bootstrap`.
    """
    from fakescope.eval.bootstrap import paired_unseen_difference

    others = {k: round(v, 3) for k, v in unseen_auc.items() if k != highlight and not math.isnan(v)}
    done = {r.recipe: r for r in records if r.report is not None}
    if not others or highlight not in done:
        return ""
    pair = [done[highlight], done[max(others, key=lambda k: others[k])]]
    scores = [_scores(r) for r in pair]
    held = [r.report.meta.get("held_out") if r.report is not None else None for r in pair]
    if any(s is None for s in scores) or not all(isinstance(h, dict) for h in held):
        return ""
    found = paired_unseen_difference(scores[0], held[0], scores[1], held[1])  # type: ignore[arg-type]
    return "" if found is None else found.text()


def study_section(
    view: StudyView, records: Sequence[RunRecord], *, highlight: str | None = None
) -> list[str]:
    """Markdown of one study: heading, summary, audit, metric tables, robustness.

    ``highlight``: the recipe the "best: ..." line compares with the best of
    the others (no line when None or absent from this study).
    """
    lines = study_heading(view)
    rows, tests = _rows(records)
    summary, unseen_auc = _summary(records, rows, tests)
    header = ["recipe", "status", "seconds", "train sources"]
    header += [f"{MEAN_UNSEEN} ROC-AUC", f"{MEAN_UNSEEN} AP", "ROC-AUC (all)"]
    lines += ["### Summary", "", *_table(header, summary), ""]
    interval = _highlight_interval(records, unseen_auc, highlight)
    lines += highlight_lines(unseen_auc, highlight, interval)
    lines += ["Summary values are means over the recipe's train sources.", ""]
    lines += audit_lines([r.report.meta.get("audit") for r in records if r.report is not None])
    if not rows:
        return [*lines, "No finished runs for this study.", ""]
    for metric, title in PAGE_METRICS:
        body = []
        for r in rows:
            cells = [_cell(r.values[metric].get(g), g in r.seen) for g in tests]
            overall = _num(r.values[metric].get(OVERALL))
            body.append([r.label, *cells, overall, _num(r.unseen_mean(metric, tests))])
        lines += [f"### {title} (clean test images)", ""]
        lines += [*_table(["recipe (train source)", *tests, OVERALL, MEAN_UNSEEN], body), ""]
    lines += [
        f"`{SEEN_MARK}` = a generator the detector saw in training; `{MEAN_UNSEEN}` = mean over "
        "the other test generators; `(all)` = every test image.",
        "",
    ]
    return lines + _robustness(rows)


def _robustness(rows: Sequence[_Row]) -> list[str]:
    """ROC-AUC on all test images per degradation tier (empty when no report has tiers)."""
    tiers: list[tuple[str, float]] = []
    for r in rows:
        tiers += [t for t in r.report.tiers if t[0] != CLEAN and t not in tiers]
    if not tiers:
        return []
    body = []
    for r in rows:
        frame = r.report.metrics
        mine = frame[(frame[TRAIN] == r.source) & (frame[GENERATOR] == OVERALL)]
        cells = [_num(r.values[AUC].get(OVERALL))]
        for tier, value in tiers:
            hit = mine[(mine[TIER] == tier) & np.isclose(mine[VALUE].astype(float), value)]
            cells.append(_num(hit[AUC].iloc[0]) if len(hit) else "-")
        body.append([r.label, *cells])
    header = ["recipe (train source)", CLEAN, *(f"{t} {v:g}" for t, v in tiers)]
    return ["### Robustness: ROC-AUC on all test images", "", *_table(header, body), ""]


# ------------------------------------------------------------ attribution
def _attribution(raw: Any) -> AttributionResult | None:
    """One entry of an attribution section payload (None when absent or malformed)."""
    if not isinstance(raw, dict):
        return None
    try:
        return AttributionResult.from_dict(raw)
    except FakescopeError:
        return None


def attribution_section(records: Sequence[RunRecord]) -> list[str]:
    """Markdown of every finished run with an ``attribution`` section (empty when none)."""
    models = []
    for rec in records:
        section = rec.report.section(ATTRIBUTION) if rec.report is not None else None
        payload = section.payload() if section is not None else None
        if isinstance(payload, dict):
            models.append((rec, {k: _attribution(v) for k, v in payload.items()}))
    if not models:
        return []
    levels = sorted({k for _, a in models for k in a if k != END_TO_END})
    body = []
    for rec, attr in models:
        e2e = attr.get(END_TO_END)
        row = [rec.recipe, rec.study]
        if e2e is None:
            row += ["-"] * 5
        else:
            row += [_num(e2e.accuracy), _num(e2e.balanced_accuracy), _num(e2e.binary_accuracy)]
            row += [str(len(e2e.classes)), str(e2e.n)]
        for level in levels:
            result = attr.get(level)
            row.append(_num(result.accuracy) if result is not None else "-")
        body.append(row)
    header = [
        "model",
        _study_column(records),
        "accuracy",
        "balanced accuracy",
        "binary accuracy",
        "classes",
    ]
    header += ["n", *(f"{level} accuracy" for level in levels)]
    lines = ["## Attribution (which generator made it)", "", *_table(header, body), ""]
    lines += [
        "End to end: real + one class per generator (test files scored: n); a file's class is "
        "real when P(fake) is below the validation threshold, else the model's routed fake "
        "class (greedy down the tree for the hierarchy) - the class `fakescope scan` writes. "
        "Binary accuracy: real vs any fake. Level columns (models whose predictions have "
        "levels, e.g. the hierarchy): level1 real/fake verdict, level2 family of the fakes, "
        "level3:<family> generator within the true family; `-` = not a level of that model.",
        "",
    ]
    for rec, attr in models:
        e2e = attr.get(END_TO_END)
        if e2e is None:
            continue
        conf = e2e.confusion()
        lines += [f"### Confusion: {rec.recipe} ({rec.study}), rows = true, row-normalised", ""]
        rows = [[str(name), *(_num(v) for v in row.to_numpy())] for name, row in conf.iterrows()]
        lines += [*_table(["true \\ predicted", *map(str, conf.columns)], rows), ""]
    return lines


# ------------------------------------------------------------------ page
def _study_column(records: Sequence[RunRecord]) -> str:
    """Heading of the run-folder column: "protocol" when every study is a bare protocol."""
    return "protocol" if all(r.study == r.protocol for r in records) else "study"


def missing_section(records: Sequence[RunRecord]) -> list[str]:
    """The runs without a report: missing, failed (with the error) or unfinished."""
    bad = [r for r in records if r.status != OK]
    if not bad:
        return []
    rows = []
    for r in bad:
        why = {MISSING: "never run", RUNNING: "started but not finished (interrupted?)"}
        text = why.get(r.status, r.error)
        if r.status == FAILED and (r.directory / ERROR_FILE).is_file():
            text += f" (traceback: {r.recipe}/{r.study}/{ERROR_FILE})"
        rows.append([r.recipe, r.study, r.status, text])
    header = ["recipe", _study_column(records), "status", "reason"]
    return ["## Missing runs", "", *_table(header, rows), ""]


def render_page(records: Sequence[RunRecord], *, plan: ResultsPlan | None, command: str) -> str:
    """The whole Markdown page (see the module docstring); studies in first-run order."""
    infos = [r.info for r in records if r.info]
    lines = header_lines(plan, infos, [r.status for r in records], command)
    highlight = plan.highlight if plan is not None else None
    for name in dict.fromkeys(r.study for r in records):
        mine = [r for r in records if r.study == name]
        view = study_view(name, plan, [r.info for r in mine if r.info])
        lines += study_section(view, mine, highlight=highlight)
    lines += attribution_section(records)
    lines += missing_section(records)
    return "\n".join(lines).rstrip() + "\n"


def write_page(out: Path, page: Path, *, plan: ResultsPlan | None, command: str) -> Path:
    """Write the page for the runs under ``out`` to ``page`` (atomically); returns ``page``.

    ``plan``: the plan whose runs the page lists in order (missing ones
    included); None = every run folder found under ``out``. ``command``: the
    command that writes the page, shown in the header.
    """
    records = collect_runs(Path(out).expanduser(), plan)
    text = render_page(records, plan=plan, command=command)
    return atomic_write_text(Path(page).expanduser(), text)
