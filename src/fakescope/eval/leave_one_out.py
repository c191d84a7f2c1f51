"""Generalisation to the unseen: leave one group out, or train on one dataset and test on another.

* ``leave-one-out``: group the fakes by a column - ``eval.group`` =
  ``generator`` (default), ``family``, or any other column of the sample table
  (e.g. ``source`` from a manifest) - and for each group value ``g`` (or only
  ``eval.holdout``) train on every row outside ``g`` and test on every
  generator. Outside ``g`` means: fakes whose column is not ``g``, and reals
  not tagged with a generator that has fakes in ``g`` (untagged reals always
  stay). The train source is ``"without <g>"``; ``meta["held_out"]`` maps it
  to the generators of ``g`` - the unseen ones - and ``meta["seen"]`` to the
  generators it was trained on. :func:`unseen_scores` averages a metric over
  the held-out generators of every run (the "mean unseen AUC"). The held-out
  group is tested on ALL its rows - train and val rows too, which that run
  never sees - unless ``eval.unseen_rows`` is ``"test"`` (``meta["unseen_rows"]``
  says which): on a 70/10/20 split that is 5x the images behind each unseen
  figure. Seen generators are scored on the test split only.
* ``cross-dataset``: train once on the train split of ``data.root`` (threshold
  from its val split) and test on EVERY row of another dataset,
  ``eval.test_data`` (indexed with the same layout rules and
  ``data.normalize``), per generator when it has a generator column.

Both record the quick format audit of their test data in ``meta["audit"]``
(``{generator: "pass" | "shortcut (...)"}``): a generator whose file format
alone separates real from fake makes its unseen score measure the format.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fakescope.config import RobustnessConfig
from fakescope.data.prepare import audit_verdicts
from fakescope.data.schema import GENERATOR, LABEL, validate_table
from fakescope.errors import DataError
from fakescope.eval.generalisation import (
    _option,
    hold_out_each,
    unseen_rows_option,
)
from fakescope.eval.metrics import AUC, CLEAN, TIER, TRAIN
from fakescope.eval.protocols import (
    PROTOCOLS,
    DetectorFactory,
    fake_generators,
    split_table,
    train_and_evaluate,
)
from fakescope.eval.report import Report
from fakescope.eval.robustness import tiers_from_config

#: ``meta`` key of the test data's quick format audit: ``{generator: verdict}``
#: (:func:`fakescope.data.prepare.audit_verdicts`; "pass" or "shortcut (...)").
AUDIT = "audit"
#: ``options`` key carrying the test table of ``cross-dataset`` (set by run_experiment).
TEST_TABLE = "test_table"


def group_members(table: pd.DataFrame, column: str) -> dict[str, list[str]]:
    """``{group value: [generators whose fakes carry it]}`` over the fakes of ``table``."""
    fakes = table[(table[LABEL] == 1) & (table[GENERATOR] != "")]
    out: dict[str, set[str]] = {}
    for key, gen in zip(fakes[column].astype(str), fakes[GENERATOR].astype(str), strict=True):
        out.setdefault(key, set()).add(gen)
    return {k: sorted(v) for k, v in sorted(out.items())}


@PROTOCOLS.register("leave-one-out")
def protocol_leave_one_out(
    table: pd.DataFrame,
    factory: DetectorFactory,
    *,
    workdir: Path | None = None,
    robustness: RobustnessConfig | None = None,
    progress: bool = False,
    options: Mapping[str, Any] | None = None,
) -> Report:
    """Hold out each value of ``eval.group`` in turn (or ``eval.holdout``), train on the rest, test on all."""
    tiers_from_config(robustness)
    train, val, test = split_table(table)
    column = _option(options, "group") or GENERATOR
    if column not in train.columns:
        columns = sorted(set(train.columns) - {"path", "label", "split"})
        raise DataError(
            f"eval.group {column!r} is not a column of this dataset; use one of: "
            f"{', '.join(columns)}"
        )
    groups = group_members(train, column)
    if len(groups) < 2:
        found = ", ".join(groups) or "none"
        raise DataError(
            f"leave-one-out needs fakes of at least 2 {column} values in the train split "
            f"(found: {found}); add sources or use --protocol all"
        )
    holdout = _option(options, "holdout")
    if holdout is not None and holdout not in groups:
        raise DataError(
            f"unknown holdout {holdout!r} for eval.group={column}; the train split has: "
            f"{', '.join(groups)}"
        )
    all_members = group_members(pd.concat([train, val, test], ignore_index=True), column)
    members = {
        value: frozenset(all_members.get(value, groups[value]))
        for value in ([holdout] if holdout is not None else list(groups))
    }
    reports, meta = hold_out_each(
        factory,
        (train, val, test),
        column,
        members,
        rows=unseen_rows_option(options),
        workdir=workdir,
        robustness=robustness,
        progress=progress,
    )
    meta.update({"group": column, "holdout": holdout})
    meta[AUDIT] = audit_verdicts(test)
    return Report.concat(reports, meta=meta)


def unseen_scores(report: Report, metric: str = AUC) -> pd.Series:
    """``metric`` on each run's held-out generators (clean tier), indexed by generator.

    Works on ``leave-one-out`` and ``leave-one-family-out`` reports
    (``meta["held_out"]``); the mean of the result is the "mean unseen" figure.
    """
    held = report.meta.get("held_out") or {}
    m = report.metrics
    rows = m[m[TIER] == CLEAN]
    out: dict[str, float] = {}
    for source, generators in held.items():
        mine = rows[rows[TRAIN] == source]
        for gen in generators:
            hit = mine[mine[GENERATOR] == gen]
            if len(hit):
                out[gen] = float(hit[metric].iloc[0])
    return pd.Series(out, dtype=np.float64, name=metric)


@PROTOCOLS.register("cross-dataset")
def protocol_cross_dataset(
    table: pd.DataFrame,
    factory: DetectorFactory,
    *,
    workdir: Path | None = None,
    robustness: RobustnessConfig | None = None,
    progress: bool = False,
    options: Mapping[str, Any] | None = None,
) -> Report:
    """Train on ``table``'s train split, test on every row of ``options["test_table"]``."""
    tiers_from_config(robustness)
    other = (options or {}).get(TEST_TABLE)
    if other is None:
        raise DataError(
            "cross-dataset needs a second dataset to test on; pass --test-data PATH "
            "(eval.test_data)"
        )
    test = validate_table(other)
    if test[LABEL].nunique() < 2:
        raise DataError(
            "the cross-dataset test set has only one label; it needs real and fake images"
        )
    if not (test[GENERATOR].astype(str) != "").any():
        warnings.warn(
            "the cross-dataset test set has no generator column: only overall scores are "
            "reported (use a generator-folder layout or a manifest with a generator column)",
            stacklevel=2,
        )
    train, val, _ = split_table(table)
    name = str((options or {}).get("train_name") or "train data")
    report = train_and_evaluate(
        factory,
        train,
        val,
        test.reset_index(drop=True),
        source=name,
        workdir=workdir,
        robustness=robustness,
        progress=progress,
    )
    # every generator of the other dataset is unseen, whatever its name
    report.meta.update(
        {
            "seen": {name: fake_generators(train)},
            "held_out": {name: fake_generators(test)},
            AUDIT: audit_verdicts(test),
        }
    )
    return report
