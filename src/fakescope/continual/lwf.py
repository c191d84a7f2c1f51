"""``lwf``: Learning without Forgetting (Li & Hoiem) on a shared real/fake head.

Loss = CE + lambda * T^2 * KL(softmax(t / T) || softmax(s / T)) with T = 2:
the teacher's responses to the new task's images are kept as soft targets,
added to (not mixed with) the full cross-entropy. With one shared head this is
a milder distillation than ``kd`` (T = 20, mixed by alpha).
"""

from __future__ import annotations

import torch
from pydantic import Field
from torch import nn

from fakescope.continual.base import STRATEGIES, ContinualStrategy, Outputs, StrategyParams
from fakescope.continual.kd import kd_term
from fakescope.train.dataset import Batch


class LwFParams(StrategyParams):
    """``weight``: lambda of the distillation term; ``temperature`` T."""

    weight: float = Field(default=1.0, ge=0)
    temperature: float = Field(default=2.0, gt=0)


@STRATEGIES.register("lwf")
class LearningWithoutForgetting(ContinualStrategy):
    """CE + lambda * T^2 * KL(teacher || student), T = 2."""

    name = "lwf"
    Params = LwFParams
    params: LwFParams

    def penalty(self, model: nn.Module, batch: Batch, outputs: Outputs) -> torch.Tensor:
        """lambda * T^2 * KL(softmax(t/T) || softmax(s/T)); 0 without a teacher."""
        if self.teacher is None:
            return outputs.logits.new_zeros(())
        teacher = self.teacher_outputs(batch.x).logits
        return self.params.weight * kd_term(outputs.logits, teacher, self.params.temperature)
