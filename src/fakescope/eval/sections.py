"""Report sections: result blocks a protocol adds to a :class:`~fakescope.eval.report.Report`.

The generic report knows metrics tables; anything else (attribution, OOD,
calibration, ...) is a :class:`Section` that the producing module builds and
appends to ``report.sections``. The report renders each section where it
belongs (Markdown, HTML, JSON) without knowing what it is, so
:mod:`fakescope.eval.report` never imports a protocol module.

Adding a section kind (e.g. OOD scores):

1. build the section - the simplest is a :class:`TableSection` (title, JSON
   payload, a list of ``(subtitle, DataFrame)`` tables, optional PNG plots from
   :mod:`fakescope.eval.plots`), or any object with the :class:`Section`
   attributes and methods;
2. in the protocol (or whatever makes the report), ``report.sections.append(section)``;
3. so that ``Report.from_json`` can rebuild it, register a loader that turns the
   payload back into the section: ``@SECTIONS.register("ood")`` on a function
   ``payload -> Section`` (in the module that builds it; importing
   :mod:`fakescope.eval.catalog` imports those modules). Unregistered keys come back as
   a :class:`RawSection` that shows the payload as JSON.

In ``report.json`` each section is one top-level key (``section.key``) holding
``section.payload()``; the keys ``format``, ``meta`` and ``metrics`` are reserved.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np
import pandas as pd

from fakescope.eval.metrics import COUNT_COLUMNS, VALUE
from fakescope.registry import Registry

#: Top-level ``report.json`` keys that a section may not use.
RESERVED_KEYS: frozenset[str] = frozenset({"format", "meta", "metrics"})


@runtime_checkable
class Section(Protocol):
    """What the report needs of a section (see the module docstring)."""

    key: str  # top-level report.json key of the payload
    title: str  # heading in Markdown and HTML

    def payload(self) -> Any:
        """JSON-able data of the section (NaN allowed: written as ``null``)."""

    def markdown(self) -> list[str]:
        """Markdown lines, starting with the ``## title`` heading."""

    def html(self) -> str:
        """An HTML fragment, starting with the ``<h2>`` title (images as data URIs)."""


SectionLoader = Callable[[Any], Section]
#: ``key -> loader(payload) -> Section``, used by ``Report.from_json``.
SECTIONS: Registry[SectionLoader] = Registry("report section", catalog="fakescope.eval.catalog")


def jsonable(value: Any) -> Any:
    """Python scalars for JSON: NaN/inf -> None, numpy scalars -> int/float."""
    if isinstance(value, float | np.floating):
        return None if not math.isfinite(float(value)) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if value is None or isinstance(value, str | int | bool):
        return value
    return str(value)


def fmt_cell(column: str, value: Any) -> str:
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


def md_row(cells: Sequence[str]) -> str:
    """One Markdown table row (``|`` escaped)."""
    return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"


def md_table(rows: pd.DataFrame, columns: Sequence[str]) -> list[str]:
    """A Markdown table of ``rows`` (cells by :func:`fmt_cell`)."""
    out = [md_row(list(columns)), md_row(["---"] * len(columns))]
    out += [md_row([fmt_cell(c, row[c]) for c in columns]) for _, row in rows.iterrows()]
    return out


def html_table(rows: pd.DataFrame, columns: Sequence[str]) -> str:
    """An HTML table of ``rows`` (cells by :func:`fmt_cell`, escaped)."""
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(fmt_cell(c, row[c]))}</td>" for c in columns) + "</tr>"
        for _, row in rows.iterrows()
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def img_tag(png: bytes, alt: str) -> str:
    """``<img>`` with ``png`` embedded as a data URI (self-contained HTML)."""
    from fakescope.eval.plots import data_uri

    return f'<img alt="{html.escape(alt)}" src="{data_uri(png)}">'


@dataclass
class TableSection:
    """A ready-made :class:`Section`: a heading, a note, tables and optional plots.

    ``data``: the JSON payload; ``tables``: ``(subtitle, frame)`` pairs shown in
    order (every column of ``frame``); ``plots``: ``(caption, png bytes)`` shown in
    HTML only (Markdown stays text).
    """

    key: str
    title: str
    data: Any
    tables: list[tuple[str, pd.DataFrame]] = field(default_factory=list)
    note: str = ""
    plots: list[tuple[str, bytes]] = field(default_factory=list)

    def payload(self) -> Any:
        return self.data

    def markdown(self) -> list[str]:
        lines = [f"## {self.title}", ""]
        if self.note:
            lines += [self.note, ""]
        for subtitle, frame in self.tables:
            lines += [f"### {subtitle}", "", *md_table(frame, list(frame.columns)), ""]
        return lines

    def html(self) -> str:
        parts = [f"<h2>{html.escape(self.title)}</h2>"]
        if self.note:
            parts.append(f"<p>{html.escape(self.note)}</p>")
        for subtitle, frame in self.tables:
            parts += [f"<h3>{html.escape(subtitle)}</h3>", html_table(frame, list(frame.columns))]
        if self.plots:
            parts.append("<div class='plots'>")
            parts += [img_tag(png, caption) for caption, png in self.plots]
            parts.append("</div>")
        return "\n".join(parts)


@dataclass
class RawSection:
    """A section read back from JSON whose key has no registered loader: the payload as JSON."""

    key: str
    data: Any
    title: str = ""

    def __post_init__(self) -> None:
        self.title = self.title or self.key

    def payload(self) -> Any:
        return self.data

    def markdown(self) -> list[str]:
        text = json.dumps(jsonable(self.data), indent=2)
        return [f"## {self.title}", "", "```json", text, "```", ""]

    def html(self) -> str:
        text = html.escape(json.dumps(jsonable(self.data), indent=2))
        return f"<h2>{html.escape(self.title)}</h2><pre>{text}</pre>"


def load_section(key: str, payload: Any) -> Section:
    """The section of ``key`` rebuilt from its payload (a :class:`RawSection` when unregistered)."""
    if key in SECTIONS:
        return SECTIONS.get(key)(payload)
    return RawSection(key, payload)
