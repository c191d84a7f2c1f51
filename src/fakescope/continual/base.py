"""The :class:`ContinualStrategy` contract and the ``STRATEGIES`` registry.

A continual-learning method is the loss it adds to the student's cross-entropy
while it learns a new task from the teacher (the model after the previous
task). Every method is one small file with ``@STRATEGIES.register("name")``:

* :meth:`ContinualStrategy.before_task` - keep what the penalty needs (a frozen
  copy of the teacher, statistics over the task's training images);
* :meth:`ContinualStrategy.penalty` - the extra loss of one batch (a scalar
  tensor; 0 on the first task, which has no teacher);
* :meth:`ContinualStrategy.after_task` - update what later tasks need (a
  replay memory, a Fisher matrix).

The teacher is held by the strategy, not by the LightningModule, so it is never
trained, never saved in a training checkpoint and never in a bundle.
Models are timm networks (or NPR-wrapped ones): images [B, 3, H, W] -> logits
[B, C]; class 0 = real, so P(fake) = 1 - softmax(logits)[:, 0].
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, NamedTuple

import pandas as pd
import torch
from pydantic import BaseModel, ConfigDict
from torch import nn

from fakescope.registry import Registry
from fakescope.train.dataset import Batch


class Outputs(NamedTuple):
    """The student's forward pass on a batch: ``logits`` [B, C], pooled ``features`` [B, D]."""

    logits: torch.Tensor
    features: torch.Tensor


def forward_outputs(model: nn.Module, x: torch.Tensor) -> Outputs:
    """Logits [B, C] and pooled pre-logits features [B, D] of ``x`` [B, 3, H, W] in one pass."""
    m: Any = model
    fmap = m.forward_features(x)
    feats = m.forward_head(fmap, pre_logits=True).flatten(1)
    return Outputs(m.forward_head(fmap), feats)


def classifier_parameters(model: nn.Module) -> set[str]:
    """Names of the classifier's parameters (timm ``pretrained_cfg['classifier']`` prefix)."""
    m: Any = model
    inner = getattr(m, "net", m)  # NPRNet wraps the timm model as .net
    prefix = "net." if inner is not m else ""
    heads = (getattr(inner, "pretrained_cfg", None) or {}).get("classifier") or "fc"
    heads = (heads,) if isinstance(heads, str) else tuple(heads)
    starts = tuple(f"{prefix}{h}." for h in heads)
    return {n for n, _ in model.named_parameters() if n.startswith(starts)}


def frozen_copy(model: nn.Module) -> nn.Module:
    """A deep copy of ``model`` in eval mode with ``requires_grad`` off (the teacher)."""
    teacher = copy.deepcopy(model).eval()
    for p in teacher.parameters():
        p.requires_grad_(False)
    return teacher


@dataclass
class TaskData:
    """One task of a sequence, as the strategies see it.

    ``index``: 0-based position in the sequence; ``train`` / ``val`` / ``test``:
    sample tables (``test`` is the val split when the task has no test split);
    ``batches``: ``batches(rows)`` iterates eval-transformed :class:`Batch` es of
    ``rows`` (no augmentation, fixed order); ``device``: where the model is.
    """

    name: str
    index: int
    train: pd.DataFrame
    val: pd.DataFrame
    test: pd.DataFrame
    batches: Callable[[pd.DataFrame], Iterable[Batch]]
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))


class StrategyParams(BaseModel):
    """Parameters of a strategy (subclasses add fields; unknown keys are errors)."""

    model_config = ConfigDict(extra="forbid")


class ContinualStrategy:
    """Base class: fine-tuning behaviour (no teacher term); see the module docstring."""

    name: ClassVar[str] = ""
    Params: ClassVar[type[StrategyParams]] = StrategyParams

    def __init__(self, params: Mapping[str, Any] | None = None, *, seed: int = 0) -> None:
        from fakescope.config import validate_params

        self.params = validate_params(self.Params, dict(params or {}), f"{self.name} method")
        self.seed = seed
        self.teacher: nn.Module | None = None

    # -------------------------------------------------------------- hooks
    def before_task(self, model: nn.Module, task: TaskData) -> None:
        """Called before training ``task``; ``model`` is the teacher (None-free from task 2 on)."""
        self.teacher = frozen_copy(model) if task.index > 0 else None

    def penalty(self, model: nn.Module, batch: Batch, outputs: Outputs) -> torch.Tensor:
        """The extra loss of one batch (scalar); 0 here (plain fine-tuning)."""
        return outputs.logits.new_zeros(())

    def after_task(self, model: nn.Module, task: TaskData) -> None:
        """Called after ``task`` was trained (also when a resumed run replays finished tasks)."""

    # ------------------------------------------------------ composition
    def ce_weight(self) -> float:
        """Weight of the cross-entropy term (KD mixes CE and distillation by alpha)."""
        return 1.0

    def train_rows(self, task: TaskData) -> pd.DataFrame:
        """The rows the student trains on for ``task`` (replay adds its memory)."""
        return task.train

    def to(self, device: torch.device) -> None:
        """Move held tensors (the teacher, statistics) to ``device``."""
        if self.teacher is not None:
            self.teacher.to(device)

    def teacher_outputs(self, x: torch.Tensor) -> Outputs:
        """The teacher's logits [B, C] and features [B, D] for ``x`` (no gradients)."""
        if self.teacher is None:
            raise RuntimeError(f"{self.name}: teacher_outputs called without a teacher")
        with torch.no_grad():
            return forward_outputs(self.teacher, x)


#: All continual-learning methods by name (filled by importing :mod:`fakescope.continual.catalog`).
STRATEGIES: Registry[type[ContinualStrategy]] = Registry(
    "continual method", catalog="fakescope.continual.catalog"
)


def create_strategy(
    name: str, params: Mapping[str, Any] | None = None, *, seed: int = 0
) -> ContinualStrategy:
    """The registered strategy ``name`` with ``params`` (one-line error for unknown names/keys)."""
    return STRATEGIES.get(name)(params, seed=seed)
