"""Turn task names into per-task sample tables (train / val / test), few-shot subsets included.

A task name is, in this order of lookup:

* a generator (the ``generator`` column): its fakes plus the reals paired with
  it (benchmarks and the ``tasks`` layout give reals their generator's name);
* a family (the ``family`` column of the fakes): the fakes of that family plus
  the reals paired with its generators;
* ``a+b`` (or, when no task is called that, CoReD's multi-source ``a_b``): the
  union of the parts, each looked up as above.

A task's images are split by the table's ``split`` column; its evaluation set
is the ``test`` split, or ``val`` when it has no test split (CoReD's folders).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from fakescope.data.schema import FAMILY, GENERATOR, LABEL, REAL, SPLIT
from fakescope.errors import DataError

CLASS_NAMES = {0: "real", 1: "fake"}


@dataclass(frozen=True)
class TaskSplits:
    """One task's rows: ``train`` (few-shot subset when asked), ``val``, ``test`` (or val)."""

    name: str
    train: pd.DataFrame
    val: pd.DataFrame
    test: pd.DataFrame


def valid_names(table: pd.DataFrame) -> tuple[list[str], list[str]]:
    """``(generators, families)`` a task may name in ``table``."""
    gens = sorted({g for g in table[GENERATOR].unique() if g})
    fakes = table[table[LABEL] == 1]
    fams = sorted({f for f in fakes[FAMILY].unique() if f and f != REAL} - set(gens))
    return gens, fams


def _part_mask(table: pd.DataFrame, name: str) -> pd.Series | None:
    """Rows of one generator or family (None when ``name`` is neither)."""
    if (table[GENERATOR] == name).any():
        return table[GENERATOR] == name
    fakes = (table[LABEL] == 1) & (table[FAMILY] == name)
    if fakes.any():
        gens = set(table.loc[fakes, GENERATOR])
        return fakes | ((table[LABEL] == 0) & table[GENERATOR].isin(gens))
    return None


def select_task(table: pd.DataFrame, name: str) -> pd.DataFrame:
    """The rows of task ``name`` (see the module docstring); one-line error when unknown."""
    whole = _part_mask(table, name)
    if whole is not None:
        return table[whole]
    for sep in ("+", "_"):
        parts = [p for p in name.split(sep) if p]
        masks = [_part_mask(table, p) for p in parts]
        if len(parts) > 1 and all(m is not None for m in masks):
            mask = np.logical_or.reduce([m.to_numpy() for m in masks if m is not None])
            return table[mask]
    gens, fams = valid_names(table)
    raise DataError(
        f"unknown task {name!r}; tasks are generators ({', '.join(gens) or 'none'}), "
        f"families ({', '.join(fams) or 'none'}) or groups of them joined by '+'"
    )


def few_shot(train: pd.DataFrame, shots: int, seed: int, task: str) -> pd.DataFrame:
    """``shots`` training rows per class (seeded); one-line error when a class has fewer."""
    parts = []
    for label, rows in train.groupby(LABEL, sort=True):
        name = CLASS_NAMES[int(str(label))]
        if len(rows) < shots:
            raise DataError(
                f"task {task!r} has {len(rows)} {name} training image(s), "
                f"fewer than --shots {shots}; lower --shots to at most {len(rows)}"
            )
        parts.append(rows.sample(n=shots, random_state=np.random.RandomState(seed)))
    return pd.concat(parts).sort_index()


def build_tasks(
    table: pd.DataFrame, names: list[str], *, shots: int | None = None, seed: int = 0
) -> list[TaskSplits]:
    """The tasks ``names`` of ``table`` in order; ``shots`` applies to every task but the first.

    One-line errors: no tasks, a repeated task, an unknown name, a task whose
    training split lacks reals or fakes, a task without val/test images, and
    ``shots`` larger than a class of a task.
    """
    if not names:
        gens, fams = valid_names(table)
        raise DataError(
            f"no tasks given; pass --tasks A,B,... from generators ({', '.join(gens)}) "
            f"or families ({', '.join(fams) or 'none'})"
        )
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise DataError(f"task(s) {', '.join(dup)} appear twice in --tasks; list each task once")
    out = []
    for i, name in enumerate(names):
        rows = select_task(table, name)
        train = rows[rows[SPLIT] == "train"]
        labels = set(train[LABEL].unique())
        if labels != {0, 1}:
            have = ", ".join(CLASS_NAMES[int(v)] for v in sorted(labels)) or "no"
            raise DataError(
                f"task {name!r} has only {have} training images; a task needs real and fake images"
            )
        val = rows[rows[SPLIT] == "val"]
        test = rows[rows[SPLIT] == "test"]
        if test.empty:
            test = val
        if test.empty:
            raise DataError(f"task {name!r} has no val or test images to evaluate on")
        if shots is not None and i > 0:
            train = few_shot(train, shots, seed + i, name)
        out.append(TaskSplits(name, train, val, test))
    return out
