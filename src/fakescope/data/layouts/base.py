"""The :class:`Layout` interface and the ``LAYOUTS`` registry of folder layouts.

A layout knows how to recognise a dataset folder (:meth:`Layout.detect`, cheap:
it looks at folder names near the root, never at every file) and how to list
it (:meth:`Layout.index`). Adding a layout is one new file in this package with
``@LAYOUTS.register("name")`` plus one import line in :mod:`fakescope.data.layouts.catalog`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from pathlib import Path
from typing import ClassVar

import pandas as pd

from fakescope.data.schema import CLS, GENERATOR, LABEL, PATH, SPLIT
from fakescope.registry import Registry

#: Columns a layout's raw table always has (``split`` is "" where the layout has none).
RAW_COLUMNS: tuple[str, ...] = (PATH, LABEL, GENERATOR, SPLIT, CLS)

#: Optional column: the folder between a generator and its label folders
#: (e.g. ProGAN's object classes in CNNDetection), "" when there is none.
SUB = "sub"


class Layout(ABC):
    """A way datasets are laid out on disk. Subclasses hold no state."""

    #: One line shown by ``fakescope list layouts`` and in error messages.
    description: ClassVar[str] = ""

    @abstractmethod
    def detect(self, root: Path) -> bool:
        """True when ``root`` (an absolute existing path) looks like this layout."""

    @abstractmethod
    def index(self, root: Path) -> pd.DataFrame:
        """List ``root`` into a raw table with :data:`RAW_COLUMNS` (plus optional extras).

        ``split`` is "" for rows whose split the layout does not say; those get
        a generated split later. ``family`` is filled later from a family map.
        """


LAYOUTS: Registry[type[Layout]] = Registry("layout", catalog="fakescope.data.layouts.catalog")


class Rows:
    """Accumulates rows of a raw table column by column (cheap for millions of files)."""

    def __init__(self) -> None:
        self.cols: dict[str, list[object]] = {c: [] for c in (*RAW_COLUMNS, SUB)}

    def add(
        self,
        paths: Iterable[str],
        *,
        label: int,
        generator: str,
        split: str = "",
        cls: str = "",
        sub: str = "",
    ) -> None:
        """Append one row per path, all with the same metadata."""
        paths = list(paths)
        n = len(paths)
        self.cols[PATH].extend(paths)
        for col, value in (
            (LABEL, label),
            (GENERATOR, generator),
            (SPLIT, split),
            (CLS, cls),
            (SUB, sub),
        ):
            self.cols[col].extend([value] * n)

    def frame(self) -> pd.DataFrame:
        """The rows as a DataFrame; the ``sub`` column is kept only when some row has one."""
        table = pd.DataFrame(self.cols)
        table[LABEL] = table[LABEL].astype("int64")
        if not (table[SUB] != "").any():
            table = table.drop(columns=SUB)
        return table
