"""GenImage layout: ``<root>/<gen>/[<sub>/]{train,val}/{ai,nature}/*``.

``ai`` holds fakes (label 1), ``nature`` reals (label 0); both carry the
generator's name. The optional ``<sub>`` level matches the released archives
(``ADM/imagenet_ai_0508_adm/train/ai``) and goes to the extra column ``sub``.
GenImage has no test folder: its ``val`` is kept as ``val`` (protocols that
evaluate on it select it explicitly).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from fakescope.data.layouts.base import LAYOUTS, Layout, Rows
from fakescope.data.layouts.files import list_images, split_of, subdirs

GENIMAGE_LABELS: dict[str, int] = {"nature": 0, "ai": 1}


def _label_dirs(root: Path) -> list[tuple[str, str, str, Path, int]]:
    """``(generator, sub, split, folder, label)`` for every ``ai``/``nature`` folder."""
    out = []
    for gen in subdirs(root):
        for base in (gen, *subdirs(gen)):
            sub = "" if base == gen else base.name
            for split_dir in subdirs(base):
                split = split_of(split_dir.name)
                if split is None:
                    continue
                for folder in subdirs(split_dir):
                    label = GENIMAGE_LABELS.get(folder.name.lower())
                    if label is not None:
                        out.append((gen.name, sub, split, folder, label))
    return out


@LAYOUTS.register("genimage")
class GenImageLayout(Layout):
    """``<root>/<gen>/[<sub>/]<split>/{ai,nature}``; ai = fake, nature = real."""

    description = "GenImage <gen>/{train,val}/{ai,nature} (ai = fake, nature = real)"

    def detect(self, root: Path) -> bool:
        """True when some ``<gen>/[<sub>/]<split>/{ai,nature}`` folder exists."""
        return bool(_label_dirs(root))

    def index(self, root: Path) -> pd.DataFrame:
        """One row per image of every generator/split/label folder."""
        rows = Rows()
        for gen, sub, split, folder, label in _label_dirs(root):
            rows.add(list_images(folder), label=label, generator=gen, split=split, sub=sub)
        return rows.frame()
