"""The LightningModule that trains any network with a :class:`~fakescope.losses.base.Loss`.

Class 0 is "real"; with more classes (attribution) the other classes are
fakes, so the real-vs-fake score is P(fake) = 1 - proba[:, 0] (higher = more
fake), with ``proba = loss.proba(model(x))`` [B, C]. Logged per epoch:
``train_loss``, ``val_loss``, and, for losses with class probabilities,
``val_auc`` (real-vs-fake ROC-AUC of P(fake), higher = better) and ``val_acc``
(multi-class accuracy). Losses with ``needs_head`` (e.g. ``triplet``) log
``val_loss`` only, so training must monitor ``val_loss``. Batches that lost
items to decode errors are counted in ``failed_train`` / ``failed_val``; the
module warns once with the numbers.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any, Literal

import lightning as L
import torch
from torch import nn
from torchmetrics.classification import BinaryAUROC, MulticlassAccuracy

from fakescope.losses.base import Loss
from fakescope.losses.catalog import create_loss
from fakescope.train.dataset import Batch

Scheduler = Literal["none", "cosine", "step"]


class ClassifierModule(L.LightningModule):
    """Training of ``model`` (images [B, 3, H, W] -> outputs [B, K]) with ``loss``.

    ``loss``: the training objective (its ``output_dim()`` must be the model's K);
    None = weighted cross-entropy (``ce``) with ``class_weights`` [C] (None = uniform),
    which may only be given without ``loss`` (a loss carries its own weights). AdamW
    with ``lr``/``weight_decay``; ``scheduler`` "cosine" anneals over ``epochs`` (also
    after a resume with more epochs), "step" multiplies the lr by ``gamma`` every
    ``step_size`` epochs.
    """

    def __init__(
        self,
        model: nn.Module,
        num_classes: int,
        *,
        loss: Loss | None = None,
        class_weights: Sequence[float] | None = None,
        lr: float = 1e-3,
        weight_decay: float = 0.01,
        scheduler: Scheduler = "cosine",
        epochs: int = 10,
        step_size: int = 3,
        gamma: float = 0.5,
    ) -> None:
        super().__init__()
        if num_classes < 2:
            raise ValueError(f"a classifier needs at least 2 classes, got {num_classes}")
        if loss is None:
            if class_weights is not None and len(class_weights) != num_classes:
                raise ValueError(
                    f"class_weights has {len(class_weights)} values for {num_classes} classes"
                )
            loss = create_loss("ce", None, num_classes, num_classes, class_weights)
        elif class_weights is not None:
            raise ValueError("pass class_weights to the loss, not to ClassifierModule")
        if loss.num_classes != num_classes:
            raise ValueError(f"the loss is for {loss.num_classes} classes, not {num_classes}")
        self.model = model
        self.criterion = loss
        self.num_classes = num_classes
        self.lr = lr
        self.weight_decay = weight_decay
        self.scheduler = scheduler
        self.epochs = epochs
        self.step_size = step_size
        self.gamma = gamma
        self.val_auc = BinaryAUROC()
        self.val_acc = MulticlassAccuracy(num_classes=num_classes, average="micro")
        self.failed_train = 0
        self.failed_val = 0
        self._warned = False
        self._val_labels: set[int] = set()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Network outputs [B, K] (logits or embeddings) for images ``x`` [B, 3, H, W]."""
        out: torch.Tensor = self.model(x)
        return out

    def _loss(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Scalar loss of outputs ``out`` [B, K] for class indices ``y`` [B]."""
        return self.criterion(out.float(), y)

    def training_step(self, batch: Batch, batch_idx: int) -> torch.Tensor | None:
        """Loss of one batch; None (skip) when fewer than 2 images decoded (BatchNorm needs 2)."""
        self.failed_train += int(batch.failed)
        if batch.y.numel() < 2:
            return None
        loss = self._train_loss(batch)
        self.log(
            "train_loss",
            loss,
            on_step=False,
            on_epoch=True,
            prog_bar=True,
            batch_size=batch.y.numel(),
        )
        return loss

    def _train_loss(self, batch: Batch) -> torch.Tensor:
        """The training loss of a batch of >= 2 images (subclasses add their own terms)."""
        return self._loss(self(batch.x), batch.y)

    def validation_step(self, batch: Batch, batch_idx: int) -> None:
        """Accumulate val loss and (losses with probabilities) real-vs-fake AUC and accuracy."""
        if not self.trainer.sanity_checking:
            self.failed_val += int(batch.failed)
        if batch.y.numel() == 0:
            return
        loss, out = self._val_outputs(batch)
        if not self.criterion.needs_head:
            proba = self.criterion.proba(out)
            is_fake = (batch.y > 0).long()
            self.val_auc.update(1.0 - proba[:, 0], is_fake)
            self._val_labels |= {int(v) for v in is_fake.unique().tolist()}
            self.val_acc.update(proba, batch.y)
        self.log(
            "val_loss",
            loss,
            on_step=False,
            on_epoch=True,
            prog_bar=True,
            batch_size=batch.y.numel(),
        )

    def _val_outputs(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        """(validation loss, float network output [B, K]) of a non-empty batch (subclasses: own loss)."""
        out = self(batch.x).float()
        return self._loss(out, batch.y), out

    def on_validation_epoch_end(self) -> None:
        """Log the epoch's AUC and accuracy (AUC is 0.5 when val has a single label)."""
        if self.val_acc.update_count == 0:
            return
        both = len(self._val_labels) == 2
        auc = self.val_auc.compute() if both else torch.tensor(0.5, device=self.device)
        self.log("val_auc", auc, prog_bar=True)
        self.log("val_acc", self.val_acc.compute())
        self.val_auc.reset()
        self.val_acc.reset()
        self._val_labels = set()

    def on_train_epoch_end(self) -> None:
        """Warn once (per module) with the number of training/validation files that failed."""
        if (self.failed_train or self.failed_val) and not self._warned:
            self._warned = True
            warnings.warn(
                f"{self.failed_train} training and {self.failed_val} validation image(s) could not be "
                "decoded and were skipped this epoch; check those files",
                RuntimeWarning,
                stacklevel=1,
            )
        self.failed_train = 0
        self.failed_val = 0

    def on_train_start(self) -> None:
        """Re-apply the cosine factor of the current epoch (after a resume the restored
        optimiser holds the lr of the old schedule, e.g. 0 at the end of a shorter run)."""
        for config in self.trainer.lr_scheduler_configs:
            sched = config.scheduler
            if isinstance(sched, torch.optim.lr_scheduler.LambdaLR):
                groups = sched.optimizer.param_groups
                for group, base, fn in zip(groups, sched.base_lrs, sched.lr_lambdas, strict=True):
                    group["lr"] = base * fn(sched.last_epoch)

    def configure_optimizers(self) -> Any:
        """AdamW plus the chosen per-epoch LR schedule."""
        opt = torch.optim.AdamW(self.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        if self.scheduler == "none":
            return opt
        sched: torch.optim.lr_scheduler.LRScheduler
        if self.scheduler == "cosine":
            # A function (not state) of the current ``epochs``: resuming with more epochs
            # stretches the cosine over the new total instead of restarting it.
            total = max(1, self.epochs)

            def cosine(epoch: int) -> float:
                return 0.5 * (1.0 + math.cos(math.pi * min(epoch, total) / total))

            sched = torch.optim.lr_scheduler.LambdaLR(opt, cosine)
        else:
            sched = torch.optim.lr_scheduler.StepLR(opt, step_size=self.step_size, gamma=self.gamma)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "epoch"}}
