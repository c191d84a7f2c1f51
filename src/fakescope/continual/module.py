"""The LightningModule of a continual task: the training module plus a strategy's penalty and CutMix.

Composes :class:`fakescope.train.module.ClassifierModule` (optimiser, schedule,
validation AUC/accuracy, decode-failure counting) and only replaces the
training step: loss = ce_weight * CE (CutMix-mixed, :mod:`fakescope.train.cutmix`)
+ strategy penalty.
"""

from __future__ import annotations

from typing import Any

import torch

from fakescope.continual.base import ContinualStrategy, forward_outputs
from fakescope.train.cutmix import maybe_cutmix
from fakescope.train.dataset import Batch
from fakescope.train.module import ClassifierModule

#: lam ~ Beta(CUTMIX_ALPHA, CUTMIX_ALPHA) sets the pasted box's area share 1 - lam.
CUTMIX_ALPHA = 0.5


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
        y = batch.y
        mix = maybe_cutmix(batch.x, self.cutmix_p, CUTMIX_ALPHA)
        out = forward_outputs(self.model, mix.x)
        ce = mix.mix(lambda labels: self._loss(out.logits, labels), y)
        penalty = self.strategy.penalty(self.model, Batch(mix.x, y, 0), out)
        loss = self.strategy.ce_weight() * ce + penalty
        n = y.numel()
        self.log("train_penalty", penalty.detach(), on_step=False, on_epoch=True, batch_size=n)
        return loss
