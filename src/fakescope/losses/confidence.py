"""Confidence-branch training (DeVries & Taylor 2018, "Learning Confidence for OOD Detection").

The network predicts class probabilities p [B, C] and a confidence c in (0, 1).
On a random half of the batch ("hints") the prediction is pulled towards the
truth: p' = c * p + (1 - c) * onehot(y), so the network can lower its task loss
by asking for hints (c < 1) but pays lambda * mean(-log c) for it. lambda adapts
to a budget beta (0.3): after each step, lambda /= 1.01 when the confidence loss
is below beta (cheaper hints), else lambda /= 0.99 (dearer hints). Low c then
marks inputs the network finds hard: higher c = more in-distribution.

These are functions and a tiny state holder (not a registered
:class:`~fakescope.losses.base.Loss`): the U-Net scorer's training module combines
them with its reconstruction loss.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

EPS = 1e-12


def hinted_nll(proba: Tensor, y: Tensor, confidence: Tensor, hint: Tensor) -> Tensor:
    """Per-sample -log p'[y] [B] with p' = c p + (1 - c) onehot(y) where ``hint`` [B] (else p' = p).

    ``proba`` [B, C] (rows sum to 1), ``y`` [B] int64, ``confidence`` [B] in (0, 1),
    ``hint`` [B] bool. For C = 2 this is the binary cross-entropy of the hinted P(fake).
    """
    c = torch.where(hint, confidence, torch.ones_like(confidence)).unsqueeze(1)
    onehot = F.one_hot(y, proba.shape[1]).to(proba.dtype)
    hinted = c * proba + (1.0 - c) * onehot
    return -torch.log(hinted.gather(1, y.unsqueeze(1)).squeeze(1).clamp_min(EPS))


def confidence_penalty(confidence: Tensor) -> Tensor:
    """The confidence loss mean(-log c) (scalar) of ``confidence`` [B] in (0, 1)."""
    return -torch.log(confidence.clamp_min(EPS)).mean()


def hint_mask(
    batch: int, generator: torch.Generator | None = None, device: torch.device | None = None
) -> Tensor:
    """Bool [B]: which samples get hints (each with probability 1/2)."""
    return torch.rand(batch, generator=generator).to(device) < 0.5


class BudgetLambda:
    """The adaptive weight lambda of the confidence loss (see the module docstring).

    ``value``: the current lambda; :meth:`update` applies one step of the budget rule.
    """

    def __init__(self, init: float = 0.1, budget: float = 0.3) -> None:
        if init <= 0 or budget <= 0:
            raise ValueError(f"lambda and budget must be > 0, got {init}, {budget}")
        self.value = float(init)
        self.budget = float(budget)

    def update(self, confidence_loss: float) -> float:
        """lambda /= 1.01 when ``confidence_loss`` < budget, else lambda /= 0.99; returns lambda."""
        self.value /= 1.01 if confidence_loss < self.budget else 0.99
        return self.value
