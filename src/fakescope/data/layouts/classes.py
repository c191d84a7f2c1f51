"""Class-folder layout (DmyT): ``<root>/{train,valid,test}/<class>/*``.

A class named ``real`` (any case) is the real class: label 0, ``cls`` "real",
``generator`` "". Every other class is a fake: label 1, ``generator`` and
``cls`` = the class folder's name. Class indices (see :func:`class_mapping`)
are "real" -> 0, then the fake classes sorted by name -> 1, 2, ... (the same
order as ``schema.encode_targets(table, "cls")``), never the file system's order.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from fakescope.data.layouts.base import LAYOUTS, Layout, Rows
from fakescope.data.layouts.binary import LABEL_DIRS
from fakescope.data.layouts.files import has_image, list_images, split_of, subdirs
from fakescope.data.schema import REAL


def class_mapping(classes: Iterable[str]) -> dict[str, int]:
    """Class name -> index: "real" is 0, the other names sorted get 1, 2, ...

    >>> class_mapping(["NeuralTextures", "real", "Deepfakes"])
    {'real': 0, 'Deepfakes': 1, 'NeuralTextures': 2}
    """
    fakes = sorted({c for c in classes if c.lower() != REAL})
    return {REAL: 0, **{c: i + 1 for i, c in enumerate(fakes)}}


def _class_dirs(root: Path) -> list[tuple[str, Path]]:
    return [
        (split, class_dir)
        for split_dir in subdirs(root)
        if (split := split_of(split_dir.name)) is not None
        for class_dir in subdirs(split_dir)
        if class_dir.name.lower() not in LABEL_DIRS
    ]


@LAYOUTS.register("classes")
class ClassesLayout(Layout):
    """``<root>/<split>/<class>/*``: one folder per class inside each split folder."""

    description = "class folders inside train/valid/test (DmyT); 'real' is class 0"

    def detect(self, root: Path) -> bool:
        """True when some ``<split>/<class>/`` folder directly holds images."""
        return any(has_image(d) for _, d in _class_dirs(root))

    def index(self, root: Path) -> pd.DataFrame:
        """One row per image; images are listed recursively inside each class folder."""
        rows = Rows()
        for split, folder in _class_dirs(root):
            name = folder.name
            is_real = name.lower() == REAL
            rows.add(
                list_images(folder),
                label=0 if is_real else 1,
                generator="" if is_real else name,
                split=split,
                cls=REAL if is_real else name,
            )
        return rows.frame()
