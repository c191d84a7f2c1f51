"""The LightningModule of a continual task: the training module plus a strategy's penalty and CutMix.

Composes :class:`fakescope.train.module.ClassifierModule` (optimiser, schedule,
validation AUC/accuracy, decode-failure counting) and only replaces the
training step: loss = ce_weight * CE (CutMix-mixed) + strategy penalty.
"""

from __future__ import annotations

from typing import Any

import torch

from fakescope.continual.base import ContinualStrategy, forward_outputs
from fakescope.train.dataset import Batch
from fakescope.train.module import ClassifierModule


def cutmix(
    x: torch.Tensor, y: torch.Tensor, alpha: float = 0.5
) -> tuple[torch.Tensor, torch.Tensor, float]:
    """CutMix of a batch ``x`` [B, 3, H, W]: a box of a permuted batch pasted in.

    lam ~ Beta(alpha, alpha); the box covers about 1 - lam of the image. Returns
    ``(mixed x, y of the pasted images [B], lam)`` with lam = the kept area share.
    """
    lam = float(torch.distributions.Beta(alpha, alpha).sample())
    perm = torch.randperm(x.shape[0], device=x.device)
    h, w = x.shape[-2:]
    cut = (1.0 - lam) ** 0.5
    ch, cw = int(h * cut), int(w * cut)
    cy, cx = int(torch.randint(h, ())), int(torch.randint(w, ()))
    y0, y1 = max(cy - ch // 2, 0), min(cy + ch // 2, h)
    x0, x1 = max(cx - cw // 2, 0), min(cx + cw // 2, w)
    mixed = x.clone()
    mixed[..., y0:y1, x0:x1] = x[perm][..., y0:y1, x0:x1]
    kept = 1.0 - (y1 - y0) * (x1 - x0) / float(h * w)
    return mixed, y[perm], kept


class ContinualModule(ClassifierModule):
    """Binary (real/fake) training of ``model`` with ``strategy``'s penalty.

    ``cutmix``: probability of CutMix per batch (Beta(0.5, 0.5)); the other
    keyword arguments go to :class:`ClassifierModule` (lr, epochs, scheduler...).
    Logs ``train_loss`` (total) and ``train_penalty``.
    """

    def __init__(
        self, model: torch.nn.Module, strategy: ContinualStrategy, *, cutmix: float = 0.2, **kw: Any
    ) -> None:
        super().__init__(model, 2, **kw)
        self.strategy = strategy
        self.cutmix_p = cutmix

    def on_train_start(self) -> None:
        """Move the strategy's teacher and statistics to the module's device."""
        super().on_train_start()
        self.strategy.to(self.device)

    def _train_loss(self, batch: Batch) -> torch.Tensor:
        """ce_weight * CE (mixed under CutMix) + penalty (the parent logs train_loss)."""
        x, y = batch.x, batch.y
        other, lam = y, 1.0
        if self.cutmix_p > 0 and float(torch.rand(())) < self.cutmix_p:
            x, other, lam = cutmix(x, y)
        out = forward_outputs(self.model, x)
        ce = lam * self._loss(out.logits, y)
        if lam < 1.0:
            ce = ce + (1.0 - lam) * self._loss(out.logits, other)
        penalty = self.strategy.penalty(self.model, Batch(x, y, 0), out)
        loss = self.strategy.ce_weight() * ce + penalty
        n = y.numel()
        self.log("train_penalty", penalty.detach(), on_step=False, on_epoch=True, batch_size=n)
        return loss
