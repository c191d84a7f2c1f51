"""``cored``: Continual Representation using Distillation (CoReD, Kim et al. ACM MM'21).

Loss = CE + kd_weight * KD + rep_weight * L_rep, with KD as in :mod:`.kd`
(T^2 * KL(teacher || student), T = 20) and the representation loss over
"stores":

* before the task, the teacher scores every training image of the task; its
  softmax on the true class p falls in one of ``stores`` equal bins of (0.5, 1]
  (5 stores: (0.5, 0.6], ..., (0.9, 1.0]; images with p <= 0.5 - the teacher
  is wrong - are in none). For each bin x class the store keeps the mean
  pooled teacher feature [D] over the task's training set;
* per batch, the student's same statistic: its pooled features averaged per
  bin x class, the bins taken from the student's own softmax on the true class
  (``bin_by="student"``, default) or from the teacher's (``"teacher"``);
* L_rep = sum over the cells present in both of ||mean_student - store||^2.
"""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field
from torch import nn

from fakescope.continual.base import (
    STRATEGIES,
    ContinualStrategy,
    Outputs,
    StrategyParams,
    TaskData,
)
from fakescope.continual.kd import kd_term
from fakescope.train.dataset import Batch

#: Tolerance (in bin widths) at the bin edges.
EDGE = 1e-5


def store_bins(p_true: torch.Tensor, stores: int) -> torch.Tensor:
    """Bin index [N] (int64) of each true-class probability ``p_true`` [N]:
    k for p in (0.5 + k w, 0.5 + (k + 1) w], w = 0.5 / stores; -1 for p <= 0.5."""
    width = 0.5 / stores
    # EDGE absorbs float32 rounding, so p = 0.6 (stored as 0.6000000238) stays in (0.5, 0.6].
    k = torch.ceil((p_true.double() - 0.5) / width - EDGE).long() - 1
    return torch.where(p_true > 0.5, k.clamp(0, stores - 1), torch.full_like(k, -1))


def binned_sums(
    features: torch.Tensor, bins: torch.Tensor, y: torch.Tensor, stores: int, classes: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per bin x class: the sum of ``features`` [N, D] ([S, C, D]) and the count ([S, C]).

    ``bins`` [N] from :func:`store_bins` (rows with -1 are skipped), ``y`` [N] classes.
    """
    keep = bins >= 0
    cell = bins[keep] * classes + y[keep]
    sums = features.new_zeros((stores * classes, features.shape[1]))
    sums = sums.index_add(0, cell, features[keep])
    counts = torch.bincount(cell, minlength=stores * classes).to(features.dtype)
    return sums.view(stores, classes, -1), counts.view(stores, classes)


def representation_loss(
    store: torch.Tensor,
    present: torch.Tensor,
    features: torch.Tensor,
    bins: torch.Tensor,
    y: torch.Tensor,
) -> torch.Tensor:
    """Sum of squared differences between the batch's per-cell mean features and ``store``.

    ``store`` [S, C, D] teacher means, ``present`` [S, C] bool (cells the task
    filled); ``features`` [B, D] student features, ``bins`` [B], ``y`` [B].
    Cells empty in the batch or in the store do not count.
    """
    stores, classes, _ = store.shape
    sums, counts = binned_sums(features.float(), bins, y, stores, classes)
    both = (counts > 0) & present
    if not both.any():
        return features.new_zeros(())
    means = sums[both] / counts[both].unsqueeze(1)
    return (means - store[both]).pow(2).sum()


class CoReDParams(StrategyParams):
    """``stores``: bins of (0.5, 1]; weights of KD and L_rep; T; where batch bins come from."""

    stores: int = Field(default=5, ge=1)
    kd_weight: float = Field(default=1.0, ge=0)
    rep_weight: float = Field(default=1.0, ge=0)
    temperature: float = Field(default=20.0, gt=0)
    bin_by: Literal["student", "teacher"] = "student"


@STRATEGIES.register("cored")
class CoReD(ContinualStrategy):
    """CE + KD + representation loss against the teacher's per-bin x class feature stores."""

    name = "cored"
    Params = CoReDParams
    params: CoReDParams

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.store: torch.Tensor | None = None  # [S, C, D]
        self.present: torch.Tensor | None = None  # [S, C] bool

    def before_task(self, model: nn.Module, task: TaskData) -> None:
        """Keep the teacher and fill the stores from its view of the task's training images."""
        super().before_task(model, task)
        self.store = self.present = None
        if self.teacher is None:
            return
        self.teacher.to(task.device)
        s = self.params.stores
        sums: torch.Tensor | None = None
        counts: torch.Tensor | None = None
        for batch in task.batches(task.train):
            if batch.y.numel() == 0:
                continue
            x, y = batch.x.to(task.device), batch.y.to(task.device)
            out = self.teacher_outputs(x)
            classes = out.logits.shape[1]
            p_true = out.logits.float().softmax(1).gather(1, y[:, None]).squeeze(1)
            bs, bc = binned_sums(out.features.float(), store_bins(p_true, s), y, s, classes)
            sums = bs if sums is None else sums + bs
            counts = bc if counts is None else counts + bc
        if sums is None or counts is None:
            return
        self.present = counts > 0
        self.store = sums / counts.clamp(min=1).unsqueeze(2)

    def to(self, device: torch.device) -> None:
        """Move the teacher and the stores."""
        super().to(device)
        if self.store is not None and self.present is not None:
            self.store, self.present = self.store.to(device), self.present.to(device)

    def penalty(self, model: nn.Module, batch: Batch, outputs: Outputs) -> torch.Tensor:
        """kd_weight * KD + rep_weight * L_rep; 0 without a teacher."""
        if self.teacher is None:
            return outputs.logits.new_zeros(())
        p = self.params
        teacher = self.teacher_outputs(batch.x)
        loss = p.kd_weight * kd_term(outputs.logits, teacher.logits, p.temperature)
        if self.store is None or self.present is None or p.rep_weight == 0:
            return loss
        source = outputs.logits if p.bin_by == "student" else teacher.logits
        p_true = source.detach().float().softmax(1).gather(1, batch.y[:, None]).squeeze(1)
        bins = store_bins(p_true, p.stores)
        rep = representation_loss(self.store, self.present, outputs.features, bins, batch.y)
        return loss + p.rep_weight * rep
