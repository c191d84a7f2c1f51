"""``ewc``: Elastic Weight Consolidation (Kirkpatrick et al. PNAS'17), online form.

After each task, the diagonal empirical Fisher F of the cross-entropy on the
task's training images (mean squared per-image gradient, approximated per
batch: batch-mean gradient squared times the batch size) is added to the
running F, and the trained parameters become the anchor theta*. On later
tasks: penalty = lambda / 2 * sum F * (theta - theta*)^2.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from fakescope.continual.base import (
    STRATEGIES,
    ContinualStrategy,
    Outputs,
    StrategyParams,
    TaskData,
    forward_outputs,
)
from fakescope.train.dataset import Batch


class EWCParams(StrategyParams):
    """``weight``: lambda of the penalty."""

    weight: float = Field(default=100.0, ge=0)


@STRATEGIES.register("ewc")
class EWC(ContinualStrategy):
    """CE + lambda / 2 * sum F (theta - theta*)^2 (accumulated Fisher, latest anchor)."""

    name = "ewc"
    Params = EWCParams
    params: EWCParams

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.fisher: dict[str, torch.Tensor] = {}
        self.anchor: dict[str, torch.Tensor] = {}

    def before_task(self, model: nn.Module, task: TaskData) -> None:
        """EWC needs no teacher copy (its anchor is kept by :meth:`after_task`)."""
        self.teacher = None

    def to(self, device: torch.device) -> None:
        """Move the Fisher diagonal and the anchor."""
        self.fisher = {k: v.to(device) for k, v in self.fisher.items()}
        self.anchor = {k: v.to(device) for k, v in self.anchor.items()}

    def penalty(self, model: nn.Module, batch: Batch, outputs: Outputs) -> torch.Tensor:
        """lambda / 2 * sum F (theta - theta*)^2; 0 before the first task ended."""
        loss = outputs.logits.new_zeros((), dtype=torch.float32)
        if not self.fisher:
            return loss
        for name, p in model.named_parameters():
            if name in self.fisher:
                loss = loss + (self.fisher[name] * (p.float() - self.anchor[name]).pow(2)).sum()
        return 0.5 * self.params.weight * loss

    def after_task(self, model: nn.Module, task: TaskData) -> None:
        """Add this task's Fisher diagonal and anchor at the trained parameters."""
        was_training = model.training
        model.eval()
        params = {n: p for n, p in model.named_parameters() if p.requires_grad}
        fisher = {n: torch.zeros_like(p, dtype=torch.float32) for n, p in params.items()}
        seen = 0
        for batch in task.batches(task.train):
            if batch.y.numel() == 0:
                continue
            x, y = batch.x.to(task.device), batch.y.to(task.device)
            model.zero_grad(set_to_none=True)
            with torch.enable_grad():
                F.cross_entropy(forward_outputs(model, x).logits.float(), y).backward()
            for n, p in params.items():
                if p.grad is not None:
                    fisher[n] += p.grad.detach().float().pow(2) * len(y)
            seen += len(y)
        model.zero_grad(set_to_none=True)
        model.train(was_training)
        if seen == 0:
            return
        for n, f in fisher.items():
            f /= seen
            self.fisher[n] = self.fisher[n] + f if n in self.fisher else f
        self.anchor = {n: p.detach().float().clone() for n, p in params.items()}
