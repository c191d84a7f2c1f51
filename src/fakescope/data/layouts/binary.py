"""Per-generator binary layout (CNNDetection, UnivFD, CDDB): ``0_real`` / ``1_fake`` folders.

Accepted shapes (``[...]`` optional; split folder names: see ``files.SPLIT_ALIASES``)::

    <root>/<gen>/[<sub>/][{train,val,test}/]{0_real,1_fake}/*   # CDDB, UnivFD, CNNDetection test
    <root>/{train,val,test}/<gen>/[<sub>/]{0_real,1_fake}/*     # CNNDetection train (split first)
    <root>/[{train,val,test}/]{0_real,1_fake}/*                 # one generator = the root's name

``generator`` is the first folder that is not a split; the folder(s) between it
and the label folders (ProGAN's object classes) go to the extra column ``sub``.
Label folder names are matched case-insensitively; images are listed recursively.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd

from fakescope.data.layouts.base import LAYOUTS, Layout, Rows
from fakescope.data.layouts.files import list_images, split_of, subdirs
from fakescope.data.layouts.manifest import find_manifest
from fakescope.errors import DataError

LABEL_DIRS: dict[str, int] = {"0_real": 0, "1_fake": 1}

#: How many folders may sit between the root and a label folder.
MAX_DEPTH = 4


def label_dirs(root: Path, depth: int = MAX_DEPTH) -> Iterator[tuple[Path, int]]:
    """Yield ``(label folder, label)`` under ``root`` (lazily, breadth by name order)."""
    for child in subdirs(root):
        label = LABEL_DIRS.get(child.name.lower())
        if label is not None:
            yield child, label
        elif depth > 0:
            yield from label_dirs(child, depth - 1)


@LAYOUTS.register("binary")
class BinaryLayout(Layout):
    """``<root>/<gen>/[<sub>/][<split>/]{0_real,1_fake}`` and its split-first variant."""

    description = "per-generator 0_real/1_fake folders (CNNDetection, UnivFD, CDDB)"

    def detect(self, root: Path) -> bool:
        """True when a ``0_real`` or ``1_fake`` folder exists within MAX_DEPTH levels.

        A folder holding a manifest is left to the ``manifest`` layout (its explicit list wins).
        """
        if not root.is_dir() or find_manifest(root) is not None:
            return False
        return next(label_dirs(root), None) is not None

    def index(self, root: Path) -> pd.DataFrame:
        """One row per image of every label folder (split "" where the path names none)."""
        rows = Rows()
        for folder, label in label_dirs(root):
            parts = folder.parent.relative_to(root).parts
            splits = [s for s in (split_of(p) for p in parts) if s is not None]
            if len(splits) > 1:
                raise DataError(
                    f"{folder} lies under two split folders; a path may name one of train/val/test"
                )
            names = [p for p in parts if split_of(p) is None]
            generator = names[0] if names else root.name
            rows.add(
                list_images(folder),
                label=label,
                generator=generator,
                split=splits[0] if splits else "",
                sub="/".join(names[1:]),
            )
        return rows.frame()
