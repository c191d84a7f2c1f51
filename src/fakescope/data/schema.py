"""The sample table: every dataset in fakescope is a pandas DataFrame of samples.

One row per image file. Columns (constants below):

=============  ======  ==========================================================
``path``       str     absolute path of the image file
``label``      int     0 = real, 1 = fake
``generator``  str     the generator folder / subset the row belongs to (reals
                       paired with a generator carry its name; "" when unknown)
``family``     str     the generator's family (gan, diffusion, ...); "real" for
                       reals, "unknown" when no family map names the generator
``split``      str     "train", "val" or "test"
``cls``        str     class name for multi-class layouts; "real"/"fake" otherwise
=============  ======  ==========================================================

Extra columns (e.g. ``source``, ``seed`` written by the benchmark builder) are
kept as they are. Filtering "all diffusion fakes of the test split" is one query:
``table.query("split == 'test' and family == 'diffusion' and label == 1")``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from fakescope.errors import DataError

PATH = "path"
LABEL = "label"
GENERATOR = "generator"
FAMILY = "family"
SPLIT = "split"
CLS = "cls"

COLUMNS: tuple[str, ...] = (PATH, LABEL, GENERATOR, FAMILY, SPLIT, CLS)
SPLITS: tuple[str, ...] = ("train", "val", "test")
REAL = "real"
FAKE = "fake"
UNKNOWN_FAMILY = "unknown"

#: What a detector is trained to predict. ``label``: real vs fake; ``generator``:
#: real + one class per generator (attribution); ``family``: real + one class per
#: family; ``cls``: the class folders as they are (class-folder layouts).
TARGETS: tuple[str, ...] = ("label", "generator", "family", "cls")


@dataclass(frozen=True)
class Sample:
    """One image of a dataset (a row of the sample table)."""

    path: str
    label: int
    generator: str = ""
    family: str = UNKNOWN_FAMILY
    split: str = "train"
    cls: str = ""

    def __post_init__(self) -> None:
        if self.label not in (0, 1):
            raise DataError(
                f"label must be 0 (real) or 1 (fake), got {self.label!r} for {self.path}"
            )


def make_table(samples: list[Sample]) -> pd.DataFrame:
    """Build a validated sample table from :class:`Sample` records."""
    if not samples:
        return empty_table()
    return validate_table(pd.DataFrame([asdict(s) for s in samples]))


def empty_table() -> pd.DataFrame:
    """A table with the standard columns and no rows."""
    return pd.DataFrame({c: pd.Series(dtype="int64" if c == LABEL else "object") for c in COLUMNS})


def validate_table(table: pd.DataFrame) -> pd.DataFrame:
    """Check and normalise a sample table: fill optional columns, fix dtypes.

    Raises :class:`DataError` (one line) when ``path`` or ``label`` is missing
    or a label is not 0/1.
    """
    missing = [c for c in (PATH, LABEL) if c not in table.columns]
    if missing:
        raise DataError(
            f"sample table lacks column(s) {', '.join(missing)}; a manifest needs at least path and label"
        )
    out = table.copy()
    labels = pd.to_numeric(out[LABEL], errors="coerce")
    bad = ~labels.isin([0, 1])
    if bad.any():
        first = out.loc[bad, LABEL].iloc[0]
        raise DataError(
            f"labels must be 0 (real) or 1 (fake); found {first!r} in {int(bad.sum())} row(s)"
        )
    out[LABEL] = labels.astype("int64")
    out[PATH] = out[PATH].astype(str)
    if GENERATOR not in out.columns:
        out[GENERATOR] = ""
    out[GENERATOR] = out[GENERATOR].fillna("").astype(str)
    if FAMILY not in out.columns:
        out[FAMILY] = UNKNOWN_FAMILY
    out[FAMILY] = out[FAMILY].fillna(UNKNOWN_FAMILY).astype(str)
    out.loc[out[LABEL] == 0, FAMILY] = REAL
    if SPLIT not in out.columns:
        out[SPLIT] = ""
    out[SPLIT] = out[SPLIT].fillna("").astype(str)
    if CLS not in out.columns:
        out[CLS] = ""
    out[CLS] = out[CLS].fillna("").astype(str)
    empty_cls = out[CLS] == ""
    out.loc[empty_cls, CLS] = np.where(out.loc[empty_cls, LABEL] == 0, REAL, FAKE)
    front = list(COLUMNS)
    return out[front + [c for c in out.columns if c not in front]].reset_index(drop=True)


def encode_targets(
    table: pd.DataFrame, target: str, classes: list[str] | None = None
) -> tuple[np.ndarray, list[str]]:
    """Map each row to a class index for ``target`` (see :data:`TARGETS`).

    Class 0 is always the real class, so P(fake) = 1 - P(class 0) for every
    detector. With ``classes`` given (a fitted detector's classes), rows of an
    unknown class raise :class:`DataError`. Returns ``(y [N] int64, classes)``.
    """
    if target not in TARGETS:
        raise DataError(f"unknown target {target!r}; choose one of: {', '.join(TARGETS)}")
    if target == "label":
        names = np.where(table[LABEL].to_numpy() == 0, REAL, FAKE)
    elif target == "cls":
        names = np.where(table[LABEL].to_numpy() == 0, REAL, table[CLS].to_numpy())
    else:
        names = np.where(table[LABEL].to_numpy() == 0, REAL, table[target].to_numpy())
    if classes is None:
        fakes = sorted({str(n) for n in names} - {REAL})
        classes = [REAL, *fakes]
    index = {c: i for i, c in enumerate(classes)}
    unknown = sorted({str(n) for n in names} - set(index))
    if unknown:
        raise DataError(
            f"classes {unknown} are not among the detector's classes {classes}; retrain with them or drop those rows"
        )
    return np.array([index[str(n)] for n in names], dtype=np.int64), classes


def resolve(path: str | Path) -> str:
    """Absolute, user-expanded path as a string (the form stored in tables)."""
    return str(Path(path).expanduser().resolve())
