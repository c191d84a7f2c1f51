"""Task-folder layout (FaceForensics++ style, CoReD): ``<root>/<Task>/{train,val}/{real,fake}/*``.

Each task (a manipulation or generator, e.g. ``Deepfakes``, ``Face2Face``, or a
multi-source name ``A_B``) is one ``generator``; its ``real`` rows carry the
task's name too, so a task is a self-contained subset. Folder names are matched
case-insensitively; a ``test`` split folder is accepted as well.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from fakescope.data.layouts.base import LAYOUTS, Layout, Rows
from fakescope.data.layouts.files import list_images, split_of, subdirs

TASK_LABELS: dict[str, int] = {"real": 0, "fake": 1}


def _label_dirs(root: Path) -> list[tuple[str, str, Path, int]]:
    """``(task, split, folder, label)`` for every ``<task>/<split>/{real,fake}`` folder."""
    return [
        (task.name, split, folder, TASK_LABELS[folder.name.lower()])
        for task in subdirs(root)
        for split_dir in subdirs(task)
        if (split := split_of(split_dir.name)) is not None
        for folder in subdirs(split_dir)
        if folder.name.lower() in TASK_LABELS
    ]


@LAYOUTS.register("tasks")
class TasksLayout(Layout):
    """``<root>/<Task>/<split>/{real,fake}``; generator = task name."""

    description = "task folders <Task>/{train,val}/{real,fake} (FaceForensics++, CoReD)"

    def detect(self, root: Path) -> bool:
        """True when some ``<task>/<split>/{real,fake}`` folder exists."""
        return bool(_label_dirs(root))

    def index(self, root: Path) -> pd.DataFrame:
        """One row per image of every task/split/label folder."""
        rows = Rows()
        for task, split, folder, label in _label_dirs(root):
            rows.add(list_images(folder), label=label, generator=task, split=split)
        return rows.frame()
