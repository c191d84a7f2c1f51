"""Index a dataset folder (or manifest) into a sample table.

>>> table = index_dataset("datasets/CNNDetection/test")           # doctest: +SKIP
>>> table.query("split == 'test' and label == 1").generator.value_counts()  # doctest: +SKIP

The layout is auto-detected (see :mod:`fakescope.data.layouts`) or named.
Rows are sorted by path, so the same folder always gives the same table.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from fakescope.config import SplitConfig
from fakescope.data.families import apply_families, load_family_map, parse_family_map
from fakescope.data.layouts.catalog import LAYOUTS
from fakescope.data.layouts.files import any_image_below
from fakescope.data.schema import PATH, validate_table
from fakescope.data.splits import assign_splits
from fakescope.errors import DataError


def _check_root(root: str | Path) -> Path:
    path = Path(root).expanduser()
    if not path.exists():
        raise DataError(f"dataset root {path} does not exist; check the path")
    return path.resolve()


def detect_layout(root: str | Path) -> str:
    """The name of the one layout ``root`` matches.

    Raises a one-line :class:`DataError` when ``root`` is missing, holds no
    images, matches no layout, or matches several (then ``--layout`` decides).
    """
    path = _check_root(root)
    matches = [name for name in LAYOUTS if LAYOUTS.get(name)().detect(path)]
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise DataError(
            f"{path} matches several layouts ({', '.join(matches)}); "
            f"pick one with --layout (e.g. --layout {matches[0]})"
        )
    if path.is_dir() and not any_image_below(path):
        raise DataError(f"{path} holds no image files; check the path")
    raise DataError(
        f"cannot recognise the layout of {path}; expected one of {', '.join(LAYOUTS)} "
        "(see 'fakescope list layouts'), or pass a CSV/Parquet manifest"
    )


def index_dataset(
    root: str | Path,
    layout: str = "auto",
    *,
    family_map: str | Path | Mapping[str, str] | None = None,
    split: SplitConfig | None = None,
) -> pd.DataFrame:
    """List the images of ``root`` into a validated sample table (see :mod:`fakescope.data.schema`).

    Args:
        root: the dataset folder, or a manifest file.
        layout: a name of ``LAYOUTS`` or "auto" (detect).
        family_map: a YAML file or a dict ``{generator: family}``; without one,
            the layout's families are kept (fakes "unknown" for folder layouts).
        split: fractions and seed for rows whose layout gives no split
            (default ``SplitConfig()``); see :mod:`fakescope.data.splits`.

    Returns:
        One row per image file, sorted by path, every ``split`` in train/val/test.
    """
    path = _check_root(root)
    name = detect_layout(path) if layout == "auto" else layout
    raw = LAYOUTS.get(name)().index(path)
    if raw.empty:
        raise DataError(
            f"no image files found in {path} with layout {name!r}; check the path or --layout"
        )
    table = validate_table(raw)
    table = assign_splits(table, split, root=path if path.is_dir() else path.parent)
    if family_map is not None:
        mapping = (
            parse_family_map(family_map, "family map")
            if isinstance(family_map, Mapping)
            else load_family_map(family_map)
        )
        table = apply_families(table, mapping)
    table = table.sort_values(PATH, kind="stable").reset_index(drop=True)
    return validate_table(table)
