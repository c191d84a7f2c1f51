"""Load the sample table a data config describes: index, normalise, check for shortcuts.

:func:`load_table` is what ``train``, ``eval`` and ``data`` commands call: it
indexes ``data.root`` with its layout, applies ``data.normalize`` when set
(:mod:`fakescope.data.normalize`) and, with ``audit=True``, runs a quick
format audit (:mod:`fakescope.data.audit`) on a sample of the files and
returns its one-line warning when a source's file format alone separates
real from fake.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from fakescope.config import DataConfig
from fakescope.data.schema import GENERATOR, LABEL
from fakescope.errors import ConfigError

if TYPE_CHECKING:
    from fakescope.data.audit import SourceAudit

#: Files per (generator, label) the quick audit of :func:`load_table` reads at most.
AUDIT_SAMPLE = 300


def index_config(data: DataConfig, *, progress: bool = True) -> pd.DataFrame:
    """The sample table of ``data`` (indexed, then normalised when ``data.normalize`` is set)."""
    from fakescope.data.index import index_dataset

    if data.root is None:
        raise ConfigError("no dataset given; pass --data ROOT or set data.root in the config")
    table = index_dataset(data.root, data.layout, family_map=data.family_map, split=data.split)
    if data.normalize is not None:
        from fakescope.data.normalize import normalize_table

        table = normalize_table(table, data.normalize, progress=progress)
    return table


def _quick_audits(table: pd.DataFrame, seed: int) -> list[SourceAudit]:
    """The audit of a sample of ``table``: at most AUDIT_SAMPLE files per (generator, label)."""
    from fakescope.data.audit import audit_table

    # shuffle, then the first AUDIT_SAMPLE rows per (generator, label); keeps every column
    # (pandas >= 3 drops the grouping columns inside groupby.apply)
    shuffled = table.sample(frac=1.0, random_state=seed)
    sample = shuffled.groupby([GENERATOR, LABEL]).head(AUDIT_SAMPLE).reset_index(drop=True)
    return audit_table(sample, seed=seed)


def quick_audit_warning(table: pd.DataFrame, *, seed: int = 0) -> str | None:
    """The audit's one-line shortcut warning on a sample of ``table`` (None when all pass):
    the format (header) warning and the pixel (JPEG history, sharpness) warning, joined."""
    from fakescope.data.audit import pixel_warning, shortcut_warning

    if table[LABEL].nunique() < 2:
        return None
    audits = _quick_audits(table, seed)
    found = [w for w in (shortcut_warning(audits), pixel_warning(audits)) if w]
    return "; ".join(found) or None


def audit_verdicts(table: pd.DataFrame, *, seed: int = 0) -> dict[str, str]:
    """``{generator: verdict}`` of the quick audit of ``table``, for a report's meta.

    A verdict is "pass" or "shortcut (header AUC 0.94: container, size)" - the
    properties that alone separate real from fake. Empty when ``table`` lacks a
    class or a generator column.
    """
    if table[LABEL].nunique() < 2 or not (table[GENERATOR].astype(str) != "").any():
        return {}
    return {a.source: a.describe() for a in _quick_audits(table, seed)}
