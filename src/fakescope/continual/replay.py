"""``replay``: experience replay - a class-balanced memory of past training images.

After each task the memory keeps at most ``size`` images: ``size // 2`` per
class (real, fake), shared equally among the tasks seen so far (seeded random
choice; an old task's share is a subset of what it kept before). The next task
trains on its own images plus the memory, with cross-entropy only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from pydantic import Field
from torch import nn

from fakescope.continual.base import STRATEGIES, ContinualStrategy, StrategyParams, TaskData
from fakescope.data.schema import LABEL
from fakescope.errors import ConfigError

#: The memory's column naming the task an image came from.
TASK = "_task"
#: Classes the memory balances (real, fake).
CLASSES = (0, 1)


class ReplayParams(StrategyParams):
    """``size``: images the memory holds (``--memory``)."""

    size: int = Field(default=500, ge=0)


def balanced_memory(memory: pd.DataFrame, new: pd.DataFrame, size: int, seed: int) -> pd.DataFrame:
    """The memory after adding task ``new`` (rows with a :data:`TASK` column): per class
    ``size // 2`` rows, split as equally as possible among the tasks (seeded)."""
    pool = pd.concat([memory, new], ignore_index=True)
    tasks = list(dict.fromkeys(pool[TASK]))
    quota = size // len(CLASSES)
    keep: list[pd.DataFrame] = []
    for label in CLASSES:
        share = [quota // len(tasks) + (i < quota % len(tasks)) for i in range(len(tasks))]
        for n, task in zip(share, tasks, strict=True):
            rows = pool[(pool[TASK] == task) & (pool[LABEL] == label)]
            if len(rows) > n:
                rows = rows.sample(n=n, random_state=np.random.RandomState(seed + label))
            keep.append(rows)
    return pd.concat(keep, ignore_index=True)


@STRATEGIES.register("replay")
class Replay(ContinualStrategy):
    """Cross-entropy on the task's images plus a class-balanced memory of earlier ones."""

    name = "replay"
    Params = ReplayParams
    params: ReplayParams

    def __init__(self, params: Mapping[str, Any] | None = None, *, seed: int = 0) -> None:
        super().__init__(params, seed=seed)
        if self.params.size < len(CLASSES):
            raise ConfigError(
                f"a replay memory of {self.params.size} image(s) cannot hold one image per class "
                f"({len(CLASSES)} classes); use --memory {len(CLASSES)} or more"
            )
        self.memory = pd.DataFrame()

    def train_rows(self, task: TaskData) -> pd.DataFrame:
        """The task's training rows plus the memory (without its bookkeeping column)."""
        if self.memory.empty:
            return task.train
        return pd.concat([task.train, self.memory.drop(columns=TASK)], ignore_index=True)

    def after_task(self, model: nn.Module, task: TaskData) -> None:
        """Add the task's training images to the memory, re-balanced to ``size``."""
        new = task.train.assign(**{TASK: task.name})
        base = self.memory if not self.memory.empty else new.iloc[:0]
        self.memory = balanced_memory(base, new, self.params.size, self.seed + task.index)
