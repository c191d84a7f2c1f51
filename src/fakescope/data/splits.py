"""Deterministic train/val/test splits for datasets whose layout does not say.

Rules (applied by :func:`assign_splits`):

* rows with no split ("") are split into train/val/test with the fractions of
  :class:`~fakescope.config.SplitConfig`, **stratified** by generator x label:
  each stratum of ``n`` rows gets ``round(n * test)`` test rows and
  ``round(n * val)`` val rows, the rest is train;
* rows that have a split keep it; when they have train but no val at all, val
  is carved out of train the same way (``round(n * val)`` per stratum);
* which rows go where depends only on ``seed`` and each row's key (its path
  relative to the dataset root when ``root`` is given): rows are ordered by
  ``sha256(seed, key)``. The same seed gives the same split whatever the order
  of the files or the folder the dataset was moved to.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import pandas as pd

from fakescope.config import SplitConfig
from fakescope.data.layouts.files import SPLIT_ALIASES
from fakescope.data.schema import GENERATOR, LABEL, PATH, SPLIT
from fakescope.errors import ConfigError, DataError


def normalize_splits(values: pd.Series) -> pd.Series:
    """Map split names to train/val/test ("valid" -> "val"); "" stays "" (= not given).

    Raises :class:`DataError` for any other value.
    """
    clean = values.fillna("").astype(str).str.strip().str.lower()
    known = clean.map(lambda v: SPLIT_ALIASES.get(v, "" if v == "" else None))
    bad = known.isna()
    if bad.any():
        raise DataError(
            f"unknown split {values[bad].iloc[0]!r} in {int(bad.sum())} row(s); "
            "use train, val or test (or leave it empty to generate one)"
        )
    return known.astype(str)


def split_keys(paths: pd.Series, root: str | Path | None) -> list[str]:
    """Keys that order rows: paths relative to ``root`` (as given when outside it)."""
    if root is None:
        return [str(p) for p in paths]
    prefix = str(root).rstrip(os.sep) + os.sep
    return [p[len(prefix) :] if p.startswith(prefix) else p for p in map(str, paths)]


def _ranks(keys: list[str], seed: int) -> np.ndarray:
    """A pseudo-random but reproducible sort key per row (uint64)."""
    out = np.empty(len(keys), dtype=np.uint64)
    for i, key in enumerate(keys):
        digest = hashlib.sha256(f"{seed}\x00{key}".encode()).digest()
        out[i] = int.from_bytes(digest[:8], "little")
    return out


def _round(x: float) -> int:
    return int(np.floor(x + 0.5))


def _stratified(
    strata: np.ndarray,
    rows: np.ndarray,
    order_key: list[tuple[int, str]],
    cuts: list[tuple[str, float]],
    rest: str,
) -> dict[int, str]:
    """Per stratum of ``rows``: the first ``round(n * f)`` rows (by ``order_key``) get each cut."""
    out: dict[int, str] = {}
    for stratum in np.unique(strata[rows]):
        order = sorted(rows[strata[rows] == stratum].tolist(), key=order_key.__getitem__)
        n, start = len(order), 0
        for name, frac in cuts:
            k = min(_round(n * frac), n - start)
            out.update((p, name) for p in order[start : start + k])
            start += k
        out.update((p, rest) for p in order[start:])
    return out


def assign_splits(
    table: pd.DataFrame, config: SplitConfig | None = None, *, root: str | Path | None = None
) -> pd.DataFrame:
    """Return a copy of ``table`` whose ``split`` column is train/val/test on every row.

    ``root``: the dataset folder, so the split does not change when it moves.
    Raises :class:`ConfigError` when ``val + test >= 1`` (nothing left to train on).
    """
    cfg = config if config is not None else SplitConfig.model_validate({})
    if cfg.val + cfg.test >= 1:
        raise ConfigError(
            f"split fractions val={cfg.val} + test={cfg.test} leave no training data; "
            "make their sum < 1"
        )
    out = table.reset_index(drop=True)
    if SPLIT not in out.columns:
        out[SPLIT] = ""
    out[SPLIT] = normalize_splits(out[SPLIT])
    if out.empty:
        return out
    keys = split_keys(out[PATH], root)
    order_key = list(zip(_ranks(keys, cfg.seed).tolist(), keys, strict=True))
    strata = out.groupby([GENERATOR, LABEL], sort=True).ngroup().to_numpy()
    split = out[SPLIT].to_numpy(dtype=object)
    given = split != ""
    if given.any() and (split == "train").any() and not (split == "val").any():
        rows = np.flatnonzero(split == "train")
        for i, name in _stratified(strata, rows, order_key, [("val", cfg.val)], "train").items():
            split[i] = name
    if not given.all():
        rows = np.flatnonzero(~given)
        cuts = [("test", cfg.test), ("val", cfg.val)]
        for i, name in _stratified(strata, rows, order_key, cuts, "train").items():
            split[i] = name
    out[SPLIT] = split.astype(str)
    return out
