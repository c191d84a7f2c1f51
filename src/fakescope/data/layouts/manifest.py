"""Manifest layout: a CSV or Parquet table listing the images.

``root`` is the manifest file itself (``.csv``, ``.parquet`` or ``.pq``) or a
folder holding exactly one ``manifest.csv`` / ``manifest.parquet``. Required
columns: ``path`` and ``label`` (0/1, or the words real/fake); optional:
``generator``, ``family``, ``split`` (train/val/test; empty = generated),
``cls``; any other column is kept as it is. Relative paths resolve against
the manifest's folder. Missing files are not dropped (they become per-file
decode errors later), but a manifest none of whose paths exist is an error.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from fakescope.data.layouts.base import LAYOUTS, Layout
from fakescope.data.schema import LABEL, PATH, validate_table
from fakescope.errors import DataError

MANIFEST_SUFFIXES: tuple[str, ...] = (".csv", ".parquet", ".pq")
MANIFEST_NAMES: tuple[str, ...] = ("manifest.csv", "manifest.parquet")
LABEL_WORDS: dict[str, int] = {"real": 0, "fake": 1}
#: Marks a folder written by the benchmark builder (indexed by the binary layout).


def find_manifest(root: Path) -> Path | None:
    """The manifest file ``root`` stands for, or None when it names none."""
    if root.is_file():
        return root if root.suffix.lower() in MANIFEST_SUFFIXES else None
    found = [root / n for n in MANIFEST_NAMES if (root / n).is_file()]
    if len(found) > 1:
        raise DataError(f"{root} holds both {MANIFEST_NAMES}; pass the one to use as the root")
    return found[0] if found else None


def read_manifest(path: Path) -> pd.DataFrame:
    """Read a CSV or Parquet manifest; a one-line :class:`DataError` when it cannot be read."""
    try:
        if path.suffix.lower() == ".csv":
            table = pd.read_csv(path, dtype={PATH: str}, keep_default_na=False, na_values=[""])
        else:
            table = pd.read_parquet(path)
    except (OSError, ValueError, ImportError) as exc:
        first = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise DataError(f"cannot read manifest {path} ({first}); check the file") from None
    return table


@LAYOUTS.register("manifest")
class ManifestLayout(Layout):
    """A CSV/Parquet file with at least ``path`` and ``label`` columns."""

    description = "a CSV/Parquet manifest with path and label columns (others kept)"

    def detect(self, root: Path) -> bool:
        """True for a ``.csv``/``.parquet`` file, or a folder with a ``manifest.csv/.parquet``.

        A folder's manifest is explicit, so it wins over the folders beside it: a
        benchmark built by ``fakescope forge build`` is indexed through its
        ``manifest.parquet`` and keeps every column (family, source, donor, seed).
        """
        return find_manifest(root) is not None

    def index(self, root: Path) -> pd.DataFrame:
        """The manifest's rows with absolute paths and 0/1 labels; other columns kept."""
        path = find_manifest(root)
        if path is None:
            raise DataError(
                f"{root} is not a manifest; pass a .csv/.parquet file or a folder with manifest.csv"
            )
        table = read_manifest(path)
        if LABEL in table.columns:
            words = table[LABEL].astype(str).str.strip().str.lower()
            table[LABEL] = table[LABEL].where(~words.isin(LABEL_WORDS), words.map(LABEL_WORDS))
        table = validate_table(table)  # path/label present, labels 0/1
        if table.empty:
            return table
        base = path.resolve().parent
        paths = [Path(p).expanduser() for p in table[PATH]]
        table[PATH] = [str(p if p.is_absolute() else base / p) for p in paths]
        if not any(Path(p).exists() for p in table[PATH]):
            raise DataError(
                f"none of the {len(table)} paths in {path} exist (relative paths resolve against "
                f"{base}); fix the path column"
            )
        return table
