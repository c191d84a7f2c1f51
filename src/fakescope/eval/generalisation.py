"""Generalisation protocols: train on few generators, test on unseen ones.

Both protocols return the usual :class:`~fakescope.eval.report.Report` (per
tested generator: ROC-AUC, AP, real/fake accuracy, accuracy at the threshold
chosen on the training source's validation rows) with one train source per
training run, so ``Report.matrix()`` is the train x test matrix. Every test
generator is evaluated, including those seen in training; which ones were
seen is recorded in ``report.meta["seen"] = {train_name: [generators]}``
(the ``Report`` metrics table has fixed columns, so the split lives in meta;
every other tested generator is unseen).

* ``single-source`` (UnivFD / S2b): train on ONE generator's training fakes
  plus its reals (:func:`~fakescope.eval.protocols.rows_of_generator`: all
  training reals when it has none of its own), choose the threshold on that
  generator's validation rows, test on every generator. ``options["source"]``
  names the generator; None = every generator in turn (the G x G matrix,
  like ``cross-generator``). The train name is the generator.
* ``leave-one-family-out``: for each fake family ``f`` (or only
  ``options["holdout"]``), train on every row that does not belong to ``f``:
  fakes of other families, reals tagged with a generator outside ``f``, and
  untagged reals (generator ""); validation rows likewise; test on every
  generator. The train name is ``"without <f>"``;
  ``report.meta["held_out"] = {train_name: [generators of f]}``. Needs the
  family of every training fake (a manifest ``family`` column or
  ``data.family_map``) and at least two families. With
  ``options["unseen_rows"] == "all"`` (the default) the held-out family is
  tested on ALL its rows - its train and val rows too, which that run never
  sees - so its unseen figures rest on ~5x more images than the test split
  alone (``"test"``: the test split only). Seen generators are always scored
  on the test split.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from fakescope.config import RobustnessConfig
from fakescope.data.schema import FAMILY, GENERATOR, LABEL, UNKNOWN_FAMILY
from fakescope.errors import DataError
from fakescope.eval.protocols import (
    PROTOCOLS,
    DetectorFactory,
    fake_generators,
    merge_meta,
    rows_of_generator,
    split_table,
    train_and_evaluate,
)
from fakescope.eval.report import Report
from fakescope.eval.robustness import tiers_from_config

#: Train-source name of the run that holds group (generator, family, source...) ``g`` out.
WITHOUT = "without {}"


def _option(options: Mapping[str, Any] | None, key: str) -> str | None:
    """``options[key]`` as text (None / "" = not given)."""
    value = (options or {}).get(key)
    return None if value is None or str(value) == "" else str(value)


#: ``options["unseen_rows"]`` values: test a held-out group on all its rows, or its test split only.
UNSEEN_ROWS = ("all", "test")


def _run_sources(
    factory: DetectorFactory,
    runs: list[tuple[str, pd.DataFrame, pd.DataFrame]],
    test: pd.DataFrame,
    *,
    workdir: Path | None,
    robustness: RobustnessConfig | None,
    progress: bool,
    extra_test: Mapping[str, pd.DataFrame] | None = None,
) -> tuple[list[Report], dict[str, Any]]:
    """Train + evaluate each ``(name, train, val)`` on ``test``; returns the reports and merged meta.

    ``extra_test[name]``: rows added to that run's test table (rows it never trained on).
    """
    extra = extra_test or {}
    reports = [
        train_and_evaluate(
            factory,
            tr,
            va,
            pd.concat([test, extra[name]], ignore_index=True) if name in extra else test,
            source=name,
            workdir=workdir,
            robustness=robustness,
            progress=progress,
        )
        for name, tr, va in runs
    ]
    return reports, merge_meta(reports, [name for name, _, _ in runs])


def unseen_rows_option(options: Mapping[str, Any] | None) -> str:
    """``options["unseen_rows"]`` checked: "all" (default) or "test" (one-line DataError else)."""
    value = _option(options, "unseen_rows") or UNSEEN_ROWS[0]
    if value not in UNSEEN_ROWS:
        raise DataError(f"eval.unseen_rows must be 'all' or 'test', not {value!r}")
    return value


# ------------------------------------------------------------ single-source
@PROTOCOLS.register("single-source")
def protocol_single_source(
    table: pd.DataFrame,
    factory: DetectorFactory,
    *,
    workdir: Path | None = None,
    robustness: RobustnessConfig | None = None,
    progress: bool = False,
    options: Mapping[str, Any] | None = None,
) -> Report:
    """Train on ONE generator + its reals (eval.source; none = each in turn), test on every generator.

    The threshold comes from that generator's validation rows (0.5 when it has
    none). ``meta["seen"] = {source: [source]}``; ``meta["source"]`` is the
    option as given (None = every generator in turn).
    """
    tiers_from_config(robustness)  # fail on a bad tier before training
    train, val, test = split_table(table)
    generators = fake_generators(train)
    if not generators:
        raise DataError(
            "single-source needs fakes tagged with their generator in the train split; "
            "use a generator-folder layout or a manifest with a generator column"
        )
    source = _option(options, "source")
    if source is not None and source not in generators:
        raise DataError(
            f"unknown source generator {source!r} (eval.source); the train split has: "
            f"{', '.join(generators)}"
        )
    val_generators = set(val[GENERATOR])
    runs = [
        (
            name,
            rows_of_generator(train, name),
            rows_of_generator(val, name) if name in val_generators else val.iloc[:0],
        )
        for name in ([source] if source is not None else generators)
    ]
    reports, meta = _run_sources(
        factory, runs, test, workdir=workdir, robustness=robustness, progress=progress
    )
    meta["source"] = source
    meta["seen"] = {name: [name] for name, _, _ in runs}
    return Report.concat(reports, meta=meta)


# ---------------------------------------------------- leave-one-family-out
def generator_families(table: pd.DataFrame) -> dict[str, str]:
    """``{generator: family}`` from the fake rows of ``table`` (untagged generators "" left out).

    Raises a one-line :class:`DataError` when a generator's fakes carry two families.
    """
    fakes = table[(table[LABEL] == 1) & (table[GENERATOR] != "")]
    pairs = fakes[[GENERATOR, FAMILY]].drop_duplicates()
    twice = pairs[pairs[GENERATOR].duplicated(keep=False)]
    if len(twice):
        name = str(twice[GENERATOR].iloc[0])
        found = ", ".join(sorted(twice.loc[twice[GENERATOR] == name, FAMILY]))
        raise DataError(
            f"generator {name!r} has fakes of several families ({found}); give it one family"
        )
    return dict(sorted(zip(pairs[GENERATOR], pairs[FAMILY], strict=True)))


def _training_families(train: pd.DataFrame) -> list[str]:
    """Sorted families of the training fakes; one-line errors when they are missing or < 2."""
    fakes = train[train[LABEL] == 1]
    unknown = fakes[fakes[FAMILY] == UNKNOWN_FAMILY]
    if len(unknown) == len(fakes):
        raise DataError(
            "leave-one-family-out needs the family of every fake; use a manifest with a family "
            "column or set data.family_map"
        )
    if len(unknown):
        names = sorted(set(unknown[GENERATOR]) - {""}) or ["(untagged)"]
        raise DataError(
            f"leave-one-family-out: {len(unknown)} training fake(s) have no family "
            f"(generators: {', '.join(names)}); add them to data.family_map"
        )
    families = sorted(set(fakes[FAMILY]))
    if len(families) < 2:
        raise DataError(
            f"leave-one-family-out needs fakes of at least 2 families in the train split; "
            f"found only {families[0]!r}"
        )
    return families


def _in_group(
    table: pd.DataFrame, column: str, value: str, generators: set[str] | frozenset[str]
) -> pd.Series:
    """Boolean mask [N]: fakes whose ``column`` is ``value`` and reals tagged with one of ``generators``."""
    return ((table[LABEL] == 1) & (table[column].astype(str) == value)) | (
        (table[LABEL] == 0) & table[GENERATOR].isin(generators)
    )


def without_group(
    table: pd.DataFrame, column: str, value: str, generators: set[str] | frozenset[str]
) -> pd.DataFrame:
    """Rows of ``table`` outside group ``value`` of ``column`` (fakes whose ``column`` is
    ``value`` and reals tagged with one of ``generators`` dropped; untagged reals stay)."""
    return table[~_in_group(table, column, value, generators)].reset_index(drop=True)


def group_rows(
    tables: list[pd.DataFrame], column: str, value: str, generators: set[str] | frozenset[str]
) -> pd.DataFrame:
    """The rows of group ``value`` (as :func:`without_group` drops them) from every table, as one."""
    parts = [t[_in_group(t, column, value, generators)] for t in tables]
    return pd.concat(parts, ignore_index=True)


def hold_out_each(
    factory: DetectorFactory,
    splits: tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame],
    column: str,
    members: Mapping[str, frozenset[str]],
    *,
    rows: str,
    workdir: Path | None,
    robustness: RobustnessConfig | None,
    progress: bool,
) -> tuple[list[Report], dict[str, Any]]:
    """One run per held-out group: train on ``splits`` (train, val, test) without it, test on all.

    ``members[value]``: the fake generators of group ``value`` of ``column`` (their tagged
    reals go with them). Run ``"without <value>"`` tests on the test split plus, when ``rows``
    is "all", the group's train and val rows (never trained on). Returns the reports and the
    merged meta with ``held_out`` / ``seen`` (train source -> generators) and ``unseen_rows``.
    """
    train, val, test = splits
    runs, held_out, seen = [], {}, {}
    extra: dict[str, pd.DataFrame] = {}
    for value, generators in members.items():
        name = WITHOUT.format(value)
        tr = without_group(train, column, value, generators)
        runs.append((name, tr, without_group(val, column, value, generators)))
        held_out[name] = sorted(generators)
        seen[name] = fake_generators(tr)
        if rows == "all":
            extra[name] = group_rows([train, val], column, value, generators)
    reports, meta = _run_sources(
        factory,
        runs,
        test,
        workdir=workdir,
        robustness=robustness,
        progress=progress,
        extra_test=extra,
    )
    meta.update({"held_out": held_out, "seen": seen, "unseen_rows": rows})
    return reports, meta


@PROTOCOLS.register("leave-one-family-out")
def protocol_leave_one_family_out(
    table: pd.DataFrame,
    factory: DetectorFactory,
    *,
    workdir: Path | None = None,
    robustness: RobustnessConfig | None = None,
    progress: bool = False,
    options: Mapping[str, Any] | None = None,
) -> Report:
    """Hold out a fake family (eval.holdout; none = each in turn), train on the rest, test on all.

    Train source ``"without <family>"``. ``meta["held_out"]`` and
    ``meta["seen"]`` map each train source to the generators held out / trained
    on; ``meta["families"]`` is the generator -> family map used.
    """
    tiers_from_config(robustness)
    train, val, test = split_table(table)
    families = _training_families(train)
    holdout = _option(options, "holdout")
    if holdout is not None and holdout not in families:
        raise DataError(
            f"unknown holdout family {holdout!r} (eval.holdout); the train split has: "
            f"{', '.join(families)}"
        )
    mapping = generator_families(pd.concat([train, val, test], ignore_index=True))
    members = {
        family: frozenset(g for g, f in mapping.items() if f == family)
        for family in ([holdout] if holdout is not None else families)
    }
    reports, meta = hold_out_each(
        factory,
        (train, val, test),
        FAMILY,
        members,
        rows=unseen_rows_option(options),
        workdir=workdir,
        robustness=robustness,
        progress=progress,
    )
    meta.update({"holdout": holdout, "families": mapping})
    return Report.concat(reports, meta=meta)
