"""Building blocks of the results page: Markdown helpers, the page header, study headings.

:mod:`fakescope.eval.results_page` assembles ``docs/results.md`` from these;
this module imports :mod:`fakescope.eval.results` and
:mod:`fakescope.eval.results_plan`, never the page module.
It renders, from ``run.json`` contents (``infos``) and the plan:

* :func:`header_lines` - the page header of reproducible facts (commands and
  dataset paths made portable, benchmark, dates, versions, hardware, studies,
  run counts);
* :func:`study_heading` - a study's section heading: its name and title, the
  protocol, the dataset (and test dataset) with portable paths, the study's
  overrides and note; a plain study (a bare protocol name in the plan) keeps
  the short ``## Protocol `name``` heading;
* :func:`audit_lines` - the test data's audit verdicts that reports carry in
  ``meta["audit"]`` (``{generator: "pass" | "shortcut (...)"}``);
* :func:`bold_best` and :func:`highlight_lines` - the best mean-unseen
  ROC-AUC of a summary in bold, and the plan's ``highlight`` recipe against
  the best of the others.

Scores behind every number are P(fake) (higher = more fake); ROC-AUC treats
fake as the positive class, so higher is better.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fakescope.eval.results import (
    FAILED,
    OK,
    RUNNING,
    machine_info,
    portable_command,
    portable_path,
)
from fakescope.eval.results_plan import DEFAULT_DATASET, ResultsPlan

#: Status of a planned run that has no folder.
MISSING = "missing"
#: Heading of the audit table of a study.
AUDIT_TITLE = "Audit of the test data (fakescope data audit)"


# -------------------------------------------------------------- markdown
def number(value: Any) -> str:
    """``value`` with 3 decimals; ``-`` for None or NaN."""
    if value is None:
        return "-"
    x = float(value)
    return "-" if math.isnan(x) else f"{x:.3f}"


def md_row(cells: Iterable[str]) -> str:
    """One Markdown table row (``|`` inside a cell escaped)."""
    return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"


def md_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """A Markdown table: header, rule, rows (one string per line)."""
    return [md_row(header), md_row(["---"] * len(header)), *(md_row(r) for r in rows)]


def distinct(values: Iterable[Any]) -> list[str]:
    """The non-empty ``values`` as text, first occurrence order, without repeats."""
    return list(dict.fromkeys(str(v) for v in values if v))


def _code(paths: Sequence[str]) -> str:
    return ", ".join(f"`{p}`" for p in paths) or "path not recorded"


# ---------------------------------------------------------------- studies
def _info_paths(infos: Iterable[Mapping[str, Any]], test: bool = False) -> dict[str, list[str]]:
    """``{dataset key: portable paths}`` recorded by the runs (their test datasets: ``test``)."""
    out: dict[str, list[str]] = {}
    for info in infos:
        if test:
            key, path = info.get("test_dataset"), info.get("test_data")
        else:
            key = info.get("dataset") or DEFAULT_DATASET
            path = info.get("data") or (info.get("overrides") or {}).get("data.root")
        if key and path:
            out.setdefault(str(key), []).append(portable_path(str(path)))
    return {k: distinct(v) for k, v in out.items()}


def _plan_path(plan: ResultsPlan | None, key: str | None) -> list[str]:
    spec = plan.datasets.get(key) if plan is not None and key else None
    return [portable_path(spec.path)] if spec is not None and spec.path is not None else []


@dataclass(frozen=True)
class StudyView:
    """What the page shows about one study (from the plan, else from its runs' ``run.json``).

    ``data`` / ``test_data``: portable paths of the dataset / test dataset
    (empty when none was recorded); ``overrides``: the study's own ``set``.
    """

    name: str
    protocol: str
    dataset: str = DEFAULT_DATASET
    data: tuple[str, ...] = ()
    test_dataset: str | None = None
    test_data: tuple[str, ...] = ()
    title: str = ""
    note: str = ""
    overrides: tuple[tuple[str, Any], ...] = ()
    plain: bool = True


def study_view(
    name: str, plan: ResultsPlan | None, infos: Sequence[Mapping[str, Any]]
) -> StudyView:
    """The :class:`StudyView` of study ``name`` (``infos``: its runs' ``run.json`` contents)."""
    study = plan.study(name) if plan is not None else None
    first = infos[0] if infos else {}
    if study is not None:
        protocol, dataset, test = study.protocol, study.data, study.test_data
    else:
        protocol = str(first.get("protocol") or name)
        dataset = str(first.get("dataset") or DEFAULT_DATASET)
        test = str(first["test_dataset"]) if first.get("test_dataset") else None
    data = _info_paths(infos).get(dataset) or _plan_path(plan, dataset)
    test_data = (_info_paths(infos, test=True).get(test) or _plan_path(plan, test)) if test else []
    plain = name == protocol and dataset == DEFAULT_DATASET and test is None
    return StudyView(
        name,
        protocol,
        dataset,
        tuple(data),
        test,
        tuple(test_data),
        title=study.title if study is not None else "",
        note=study.note if study is not None else "",
        overrides=tuple(study.set.items()) if study is not None else (),
        plain=plain if study is None else study.is_plain,
    )


def _dataset_text(key: str, paths: Sequence[str]) -> str:
    what = "the default dataset" if key == DEFAULT_DATASET else f"dataset `{key}`"
    return f"{what} ({_code(paths)})"


def _value_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def study_heading(view: StudyView) -> list[str]:
    """The section heading of a study, its protocol, data, overrides and note (see module doc)."""
    if view.plain:
        return [f"## Protocol `{view.name}`", ""]
    title = f": {view.title}" if view.title else ""
    facts = f"Protocol `{view.protocol}` on {_dataset_text(view.dataset, view.data)}"
    if view.test_dataset:
        facts += f", tested on {_dataset_text(view.test_dataset, view.test_data)}"
    if view.overrides:
        facts += "; overrides " + ", ".join(f"`{k}={_value_text(v)}`" for k, v in view.overrides)
    lines = [f"## Study `{view.name}`{title}", "", facts + ".", ""]
    return lines + ([view.note.strip(), ""] if view.note.strip() else [])


def audit_lines(audits: Sequence[Any]) -> list[str]:
    """A generator x verdict table from reports' ``meta["audit"]`` values (empty when none).

    Each item is one report's ``{generator: verdict}``; items that are not
    mappings are ignored. The runs of a study test on the same data, so their
    verdicts agree; differing verdicts of one generator are all listed.
    """
    verdicts: dict[str, list[str]] = {}
    for audit in audits:
        if isinstance(audit, Mapping):
            for gen, verdict in audit.items():
                verdicts.setdefault(str(gen), []).append(str(verdict))
    if not verdicts:
        return []
    rows = [[gen, " / ".join(distinct(verdicts[gen]))] for gen in sorted(verdicts)]
    return [
        f"### {AUDIT_TITLE}",
        "",
        *md_table(["generator", "verdict"], rows),
        "",
        "Quick audit of a sample of the test files: `pass` = no file property (format, size, "
        "header) alone separates the generator's fakes from the reals; otherwise the "
        "properties that do, so scores on that generator may reward a format shortcut.",
        "",
    ]


def bold_best(values: Sequence[float]) -> list[str]:
    """``values`` as :func:`number` cells, the highest in bold (when at least two have one)."""
    cells = [number(v) for v in values]
    known = [v for v in values if not math.isnan(v)]
    if len(known) < 2:
        return cells
    top = number(max(known))
    return [f"**{c}**" if c == top else c for c in cells]


#: Under a highlight line with an interval: what the interval does and does not cover.
INTERVAL_NOTE = (
    "The interval resamples the test images of each unseen generator (both recipes on the "
    "same resample, classes kept at their sizes) with the trained models held fixed: it shows "
    "test-set noise, not the spread between training runs."
)


def highlight_lines(
    values: Mapping[str, float], highlight: str | None, interval: str = ""
) -> list[str]:
    """ "best: R (x); H: y (+d vs the best other recipe)" over ``values`` (recipe -> score).

    Empty unless ``highlight`` is one of the ``values``' recipes and some
    recipe has a score. Scores are compared as shown (3 decimals).
    ``interval``: text on how sure the difference is (e.g. a bootstrap CI),
    added inside the brackets.
    """
    if highlight is None or highlight not in values:
        return []
    shown = {k: round(v, 3) for k, v in values.items() if not math.isnan(v)}
    if not shown:
        return []
    best = max(shown, key=lambda k: shown[k])
    text = f"best: {best} ({number(shown[best])}); {highlight}: "
    others = [v for k, v in shown.items() if k != highlight]
    if highlight not in shown:
        text += "no result"
    elif not others:
        text += f"{number(shown[highlight])} (no other recipe to compare)"
    else:
        gap = round(shown[highlight] - max(others), 3) + 0.0
        sure = f"; {interval}" if interval else ""
        text += f"{number(shown[highlight])} ({gap:+.3f} vs the best other recipe{sure})"
        if interval:
            return [text, "", INTERVAL_NOTE, ""]
    return [text, ""]


# ------------------------------------------------------------------ header
def _versions_text(machine: Mapping[str, Any], fakescope_version: Any) -> str:
    parts = [("fakescope", fakescope_version)]
    parts += [(k, machine.get(k)) for k in ("torch", "timm")] + [("Python", machine.get("python"))]
    return ", ".join(f"{name} {value}" for name, value in parts if value)


def _hardware_text(machine: Mapping[str, Any]) -> str:
    gpu = f"GPU {machine['cuda']}" if machine.get("cuda") else "no GPU"
    return f"{machine.get('cpus')} CPUs, {gpu}"


def _data_lines(plan: ResultsPlan | None, infos: Sequence[Mapping[str, Any]]) -> list[str]:
    """One line per dataset: the default one as ``- **Data**: `path```, named ones by key."""
    found = _info_paths(infos)
    for key, paths in _info_paths(infos, test=True).items():
        found[key] = distinct([*found.get(key, []), *paths])
    keys = list(dict.fromkeys([*(plan.dataset_keys() if plan is not None else []), *found]))
    lines = []
    for key in keys:
        paths = found.get(key) or _plan_path(plan, key)
        spec = plan.datasets.get(key) if plan is not None else None
        note = f" - {spec.note.strip()}" if spec is not None and spec.note.strip() else ""
        if key == DEFAULT_DATASET:
            lines += [f"- **Data**: `{p}`{note}" for p in paths]
        else:
            lines.append(f"- **Data `{key}`**: {_code(paths)}{note}")
    return lines


def _studies_line(plan: ResultsPlan) -> str:
    extra = f"; source {plan.source}" if plan.source else ""
    extra += f"; holdout {plan.holdout}" if plan.holdout else ""
    # every study some recipe runs, plan order (recipe-level studies included)
    studies = list({s.name: s for _, s in plan.study_runs()}.values())
    if all(s.is_plain for s in studies):
        return f"- **Protocols**: {', '.join(s.name for s in studies)}{extra}"
    labels = []
    for s in studies:
        where = s.data + (f" -> {s.test_data}" if s.test_data else "")
        labels.append(s.name if s.is_plain else f"{s.name} ({s.protocol} on {where})")
    return f"- **Studies**: {', '.join(labels)}{extra}"


def header_lines(
    plan: ResultsPlan | None,
    infos: Sequence[Mapping[str, Any]],
    statuses: Sequence[str],
    command: str,
) -> list[str]:
    """Title, commands, benchmark, datasets, dates, versions, hardware, studies and run counts.

    ``infos``: the ``run.json`` contents of the runs found; ``statuses``: one
    status per planned/found run ("ok", "failed", "running", "missing"). Only
    reproducible facts: the page is the same whenever it is rewritten from the
    same run folders with the same command.
    """
    title = plan.title if plan is not None else "fakescope results"
    lines = [
        f"# {title}",
        "",
        "<!-- generated by fakescope; do not edit: every number comes from a report.json -->",
        "",
        f"- **Page written by**: `{portable_command(command)}`",
    ]
    commands = distinct(portable_command(str(i["command"])) for i in infos if i.get("command"))
    lines += [f"- **Runs made by**: `{c}`" for c in commands]
    if plan is not None and plan.benchmark_note:
        lines.append(f"- **Benchmark**: {plan.benchmark_note}")
    lines += _data_lines(plan, infos)
    started = sorted(distinct(i.get("started") for i in infos))
    if started:
        lines.append(f"- **Runs started**: {started[0]} to {started[-1]}")
    envs = [(i.get("machine") or {}, i.get("fakescope_version")) for i in infos]
    versions = distinct(_versions_text(m, v) for m, v in envs if m or v)
    hardware = distinct(_hardware_text(m) for m, _ in envs if m)
    if not versions and not hardware:
        import fakescope

        here = _versions_text(machine_info(), fakescope.__version__)
        lines.append(f"- **Versions** (of the page writer; no run recorded them): {here}")
    lines += [f"- **Versions**: {v}" for v in versions]
    lines += [f"- **Hardware**: {h}" for h in hardware]
    if plan is not None:
        lines.append(_studies_line(plan))
    counts = {s: sum(x == s for x in statuses) for s in (OK, FAILED, RUNNING, MISSING)}
    lines.append(
        f"- **Runs**: {len(statuses)} planned/found: {counts[OK]} finished, {counts[FAILED]} "
        f"failed, {counts[RUNNING]} unfinished, {counts[MISSING]} missing"
    )
    return [*lines, ""]
