"""``tg``: Transferable GAN-image detection (T-GD, Jeon et al. ICML'20) as CoReD's TG baseline.

Loss = CE + gamma * [0.5 * ||theta_f - theta_f^teacher||^2 + 0.5 * ||theta_c||^2]

* theta_f: the feature extractor's parameters (everything but the classifier),
  pulled towards the teacher's (L2-SP: regularise towards the start point);
* theta_c: the classifier's parameters (plain weight decay);
* gamma = sigmoid(-CE_teacher), the teacher's cross-entropy on the batch
  (detached): the better the teacher already does on the new task, the
  stronger the pull towards it.

Option (the paper's, missing from its code): self-training - images of the
batch on which the teacher is at least ``self_train_threshold`` confident also
get a cross-entropy towards the teacher's class, weighted ``self_train_weight``.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from fakescope.continual.base import (
    STRATEGIES,
    ContinualStrategy,
    Outputs,
    StrategyParams,
    classifier_parameters,
)
from fakescope.train.dataset import Batch


def l2sp_terms(
    model: nn.Module, reference: Mapping[str, torch.Tensor], classifier: set[str]
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(0.5 * sum ||theta - theta_ref||^2 over non-classifier params,
    0.5 * sum ||theta||^2 over the classifier params)`` (two scalars).

    ``reference``: parameter name -> the teacher's tensor; ``classifier``: names
    of the classifier's parameters.
    """
    feat = torch.zeros((), device=next(model.parameters()).device)
    head = torch.zeros_like(feat)
    for name, p in model.named_parameters():
        if name in classifier:
            head = head + p.float().pow(2).sum()
        else:
            feat = feat + (p.float() - reference[name].float()).pow(2).sum()
    return 0.5 * feat, 0.5 * head


class TGParams(StrategyParams):
    """``self_train_threshold``: teacher confidence for self-training (None = off)."""

    self_train_threshold: float | None = Field(default=None, gt=0.5, le=1)
    self_train_weight: float = Field(default=1.0, ge=0)


@STRATEGIES.register("tg")
class TransferGD(ContinualStrategy):
    """CE + sigmoid(-CE_teacher) * (L2-SP on features + L2 on the classifier)."""

    name = "tg"
    Params = TGParams
    params: TGParams

    def penalty(self, model: nn.Module, batch: Batch, outputs: Outputs) -> torch.Tensor:
        """gamma * (L2-SP + classifier L2) [+ self-training CE]; 0 without a teacher."""
        if self.teacher is None:
            return outputs.logits.new_zeros(())
        t_logits = self.teacher_outputs(batch.x).logits.float()
        gamma = torch.sigmoid(-F.cross_entropy(t_logits, batch.y))
        reference = dict(self.teacher.named_parameters())
        feat, head = l2sp_terms(model, reference, classifier_parameters(model))
        loss = gamma * (feat + head)
        thr = self.params.self_train_threshold
        if thr is not None:
            conf, pseudo = F.softmax(t_logits, dim=1).max(dim=1)
            keep = conf >= thr
            if keep.any():
                st = F.cross_entropy(outputs.logits[keep].float(), pseudo[keep])
                loss = loss + self.params.self_train_weight * st
        return loss
