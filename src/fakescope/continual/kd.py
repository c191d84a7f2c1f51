"""``kd``: knowledge distillation from the teacher (Hinton et al.), as CoReD's KD baseline.

Loss = (1 - alpha) * CE + alpha * T^2 * KL(softmax(t / T) || softmax(s / T)),
with teacher logits t and student logits s [B, C], T = 20. The T^2 factor keeps
the gradient scale of the soft term independent of T. (CoReD's KD.py scales
the target distribution itself by alpha * T^2 - not a distribution any more -
and ignores its alpha flag; neither is reproduced.)
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from fakescope.continual.base import STRATEGIES, ContinualStrategy, Outputs, StrategyParams
from fakescope.train.dataset import Batch


def kd_term(student: torch.Tensor, teacher: torch.Tensor, temperature: float) -> torch.Tensor:
    """T^2 * KL(softmax(teacher / T) || softmax(student / T)), batch mean (scalar).

    ``student``, ``teacher``: logits [B, C]; gradients flow into ``student`` only.
    """
    t = temperature
    log_s = F.log_softmax(student.float() / t, dim=1)
    p_t = F.softmax(teacher.detach().float() / t, dim=1)
    return F.kl_div(log_s, p_t, reduction="batchmean") * (t * t)


class KDParams(StrategyParams):
    """``alpha``: weight of the distillation term (CE gets 1 - alpha); ``temperature`` T."""

    alpha: float = Field(default=0.5, ge=0, le=1)
    temperature: float = Field(default=20.0, gt=0)


@STRATEGIES.register("kd")
class KnowledgeDistillation(ContinualStrategy):
    """(1 - alpha) * CE + alpha * T^2 * KL(teacher || student) on the new task's images."""

    name = "kd"
    Params = KDParams
    params: KDParams

    def ce_weight(self) -> float:
        """1 - alpha on tasks with a teacher, 1 on the first task."""
        return 1.0 - self.params.alpha if self.teacher is not None else 1.0

    def penalty(self, model: nn.Module, batch: Batch, outputs: Outputs) -> torch.Tensor:
        """alpha * T^2 * KL(softmax(t/T) || softmax(s/T)); 0 without a teacher."""
        if self.teacher is None:
            return outputs.logits.new_zeros(())
        teacher = self.teacher_outputs(batch.x).logits
        return self.params.alpha * kd_term(outputs.logits, teacher, self.params.temperature)
