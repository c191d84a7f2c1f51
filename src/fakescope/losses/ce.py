"""``ce`` (weighted softmax cross-entropy) and ``bce`` (one-logit binary cross-entropy).

``ce``: the network outputs C logits; proba = softmax(logits). Works for
real-vs-fake (C = 2) and attribution (C > 2).

``bce``: real vs fake only. The network outputs 1 logit z; P(fake) =
sigmoid(z), proba = [1 - sigmoid(z), sigmoid(z)]. Class weights become
``pos_weight = w_fake / w_real``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from fakescope.errors import ConfigError
from fakescope.losses.base import LOSSES, Loss, LossParams


class CEParams(LossParams):
    """``ce`` has no parameters (class weights come from the detector's ``class_weights``)."""


@LOSSES.register("ce")
class CrossEntropyLoss(Loss):
    """Weighted softmax cross-entropy over C logits (class 0 = real)."""

    name = "ce"
    Params = CEParams
    output = "logits"

    def forward(self, out: Tensor, y: Tensor) -> Tensor:
        """Weighted mean CE of logits ``out`` [B, C] for targets ``y`` [B]."""
        return F.cross_entropy(out.float(), y, weight=self.class_weights)

    def proba(self, out: Tensor) -> Tensor:
        """Softmax probabilities [B, C] of logits ``out`` [B, C]."""
        return out.float().softmax(dim=1)


class BCEParams(LossParams):
    """``bce`` has no parameters (class weights become ``pos_weight`` = w_fake / w_real)."""


@LOSSES.register("bce")
class BinaryCrossEntropyLoss(Loss):
    """Binary cross-entropy on one logit z: P(fake) = sigmoid(z) (real vs fake only)."""

    name = "bce"
    Params = BCEParams
    output = "logits"

    pos_weight: Tensor

    def __init__(
        self,
        params: LossParams,
        num_classes: int,
        embed_dim: int,
        class_weights: Sequence[float] | None = None,
    ) -> None:
        if num_classes != 2:
            raise ConfigError(
                f"bce needs 2 classes (real, fake), got {num_classes}; use loss=ce for attribution"
            )
        super().__init__(params, num_classes, embed_dim, class_weights)
        w_real, w_fake = (float(w) for w in self.class_weights)
        if w_real <= 0:
            raise ConfigError(
                "bce needs a positive class weight for real (class 0); fix class_weights"
            )
        self.register_buffer("pos_weight", torch.tensor([w_fake / w_real]), persistent=False)

    def output_dim(self) -> int:
        """One logit."""
        return 1

    def forward(self, out: Tensor, y: Tensor) -> Tensor:
        """Mean BCE of logits ``out`` [B, 1] for targets ``y`` [B] (1 = fake)."""
        logit = out.float().reshape(len(y), -1)[:, 0]
        return F.binary_cross_entropy_with_logits(logit, y.float(), pos_weight=self.pos_weight)

    def proba(self, out: Tensor) -> Tensor:
        """[1 - sigmoid(z), sigmoid(z)] [B, 2] of logits ``out`` [B, 1]."""
        p = out.float().reshape(out.shape[0], -1)[:, 0].sigmoid()
        return torch.stack([1.0 - p, p], dim=1)
