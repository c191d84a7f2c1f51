"""Lightning training of the U-Net scorer (S1): task loss + reconstruction + optional confidence.

Loss per batch (``recon_weight`` = 0.1 in the thesis)::

    (1 - recon_weight) * task + recon_weight * MAE(reconstruction, x) [+ lambda * mean(-log c)]

``task`` is the configured :class:`~fakescope.losses.base.Loss` (``bce``: one logit) or,
with the confidence branch, the hinted NLL of :mod:`fakescope.losses.confidence`
(hints on a random half of the batch; lambda adapts to the budget). With
probability ``cutmix_prob`` a batch is CutMixed (a random box of another image of
the batch is pasted in; the task loss mixes both labels by area; the
reconstruction target is the mixed image). Adam (lr, weight decay) with
ReduceLROnPlateau on ``val_loss`` (``train_loss`` without validation data).
Validation loss: the same loss without CutMix and hints.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from fakescope.losses.base import Loss, weighted_mean
from fakescope.losses.confidence import BudgetLambda, confidence_penalty, hint_mask, hinted_nll
from fakescope.models.unet_scorer import ScorerOutput, UNetScorer
from fakescope.train.cutmix import maybe_cutmix
from fakescope.train.dataset import Batch
from fakescope.train.module import ClassifierModule


class UNetScorerModule(ClassifierModule):
    """Trains a :class:`UNetScorer`; ``forward`` returns the logits (for the parent's metrics)."""

    def __init__(
        self,
        model: UNetScorer,
        num_classes: int,
        *,
        loss: Loss,
        lr: float = 1e-3,
        weight_decay: float = 1e-3,
        recon_weight: float = 0.1,
        cutmix_prob: float = 0.5,
        cutmix_alpha: float = 1.0,
        budget: float = 0.3,
        lambda_init: float = 0.1,
        plateau_factor: float = 0.5,
        plateau_patience: int = 3,
        has_val: bool = True,
    ) -> None:
        super().__init__(
            model, num_classes, loss=loss, lr=lr, weight_decay=weight_decay, scheduler="none"
        )
        self.recon_weight = recon_weight
        self.cutmix_prob = cutmix_prob
        self.cutmix_alpha = cutmix_alpha
        self.lam = BudgetLambda(lambda_init, budget)
        self.plateau_factor = plateau_factor
        self.plateau_patience = plateau_patience
        self.has_val = has_val

    def forward(self, x: Tensor) -> Tensor:
        """Logits [B, K] of ``x`` [B, 3, H, W]."""
        out: ScorerOutput = self.model(x)
        return out.logits

    def _task(self, out: ScorerOutput, y: Tensor, hint: Tensor | None) -> Tensor:
        """Scalar task loss: the configured loss, or the hinted NLL (confidence branch + ``hint``)."""
        if out.confidence_logit is None or hint is None:
            return self.criterion(out.logits.float(), y)
        proba = self.criterion.proba(out.logits.float())
        per = hinted_nll(proba, y, torch.sigmoid(out.confidence_logit.float()), hint)
        return weighted_mean(per, self.criterion.class_weights[y])

    def _step_loss(self, batch: Batch, train: bool) -> tuple[Tensor, ScorerOutput]:
        """(combined loss, network outputs) of a batch; training batches may be CutMixed."""
        y = batch.y
        mix = maybe_cutmix(batch.x, self.cutmix_prob if train else 0.0, self.cutmix_alpha)
        x = mix.x
        out: ScorerOutput = self.model(x)
        hint = hint_mask(len(y), device=y.device) if train else None
        task = mix.mix(lambda labels: self._task(out, labels, hint), y)
        recon = F.l1_loss(out.reconstruction.float(), x.float())
        loss = (1.0 - self.recon_weight) * task + self.recon_weight * recon
        if out.confidence_logit is not None and train:
            conf = confidence_penalty(torch.sigmoid(out.confidence_logit.float()))
            loss = loss + self.lam.value * conf
            self.lam.update(float(conf.detach()))
            self.log(
                "confidence_loss", conf.detach(), on_step=False, on_epoch=True, batch_size=len(y)
            )
        self.log(
            "recon_loss" if train else "val_recon_loss",
            recon.detach(),
            on_step=False,
            on_epoch=True,
            batch_size=len(y),
        )
        return loss, out

    def _train_loss(self, batch: Batch) -> Tensor:
        """The combined loss of one training batch (logged by the parent's training_step)."""
        loss, _ = self._step_loss(batch, train=True)
        return loss

    def _val_outputs(self, batch: Batch) -> tuple[Tensor, Tensor]:
        """Validation loss (no CutMix, no hints) and the classifier logits; the parent adds AUC/acc."""
        loss, out = self._step_loss(batch, train=False)
        return loss, out.logits.float()

    def configure_optimizers(self) -> Any:
        """Adam with ReduceLROnPlateau(factor, patience) on val_loss (train_loss without val)."""
        opt = torch.optim.Adam(self.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        sched = torch.optim.lr_scheduler.ReduceLROnPlateau(
            opt, mode="min", factor=self.plateau_factor, patience=self.plateau_patience
        )
        monitor = "val_loss" if self.has_val else "train_loss"
        return {
            "optimizer": opt,
            "lr_scheduler": {"scheduler": sched, "monitor": monitor, "interval": "epoch"},
        }
