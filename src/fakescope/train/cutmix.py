"""CutMix (Yun et al., ICCV'19) for training batches: one box of another image pasted in.

``cutmix`` draws lam ~ Beta(alpha, alpha), a permutation of the batch and a box of
area about (1 - lam) * H * W with a uniform centre, clipped at the border; every
image gets the same box from image ``perm[i]``. :attr:`CutMix.kept` is the exact
share of each image's own pixels after clipping, and :meth:`CutMix.mix` weights a
loss of the own labels by it and a loss of the pasted images' labels by the rest.
The continual-learning module and the U-Net scorer's module both train with it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import torch
from torch import Tensor


class CutMix(NamedTuple):
    """A CutMixed batch: ``x`` [B, C, H, W], ``perm`` [B] (row i's box comes from image
    ``perm[i]``), ``kept`` = share of each image's own pixels in [0, 1] (1.0: nothing pasted)."""

    x: Tensor
    perm: Tensor
    kept: float

    def mix(self, loss_of: Callable[[Tensor], Tensor], y: Tensor) -> Tensor:
        """``kept * loss_of(y) + (1 - kept) * loss_of(y[perm])`` for labels ``y`` [B]
        (only ``loss_of(y)`` when nothing was pasted)."""
        own = self.kept * loss_of(y)
        if self.kept >= 1.0:
            return own
        return own + (1.0 - self.kept) * loss_of(y[self.perm])


def cutmix(x: Tensor, alpha: float) -> CutMix:
    """CutMix ``x`` [B, C, H, W] with lam ~ Beta(alpha, alpha) (see the module docstring)."""
    if x.ndim != 4:
        raise ValueError(f"cutmix needs a batch [B, C, H, W], got shape {tuple(x.shape)}")
    b, _, h, w = x.shape
    lam = float(torch.distributions.Beta(alpha, alpha).sample())
    perm = torch.randperm(b, device=x.device)
    cut = math.sqrt(1.0 - lam)
    ch, cw = int(h * cut), int(w * cut)
    cy, cx = int(torch.randint(h, (1,))), int(torch.randint(w, (1,)))
    y0, y1 = max(cy - ch // 2, 0), min(cy + ch // 2, h)
    x0, x1 = max(cx - cw // 2, 0), min(cx + cw // 2, w)
    mixed = x.clone()
    mixed[:, :, y0:y1, x0:x1] = x[perm, :, y0:y1, x0:x1]
    return CutMix(mixed, perm, 1.0 - (y1 - y0) * (x1 - x0) / (h * w))


def maybe_cutmix(x: Tensor, prob: float, alpha: float) -> CutMix:
    """:func:`cutmix` with probability ``prob`` (one coin per batch), else ``x`` unchanged
    (identity ``perm``, ``kept`` 1.0). ``prob`` 0 draws no random numbers."""
    if prob > 0 and float(torch.rand(())) < prob:
        return cutmix(x, alpha)
    return CutMix(x, torch.arange(x.shape[0], device=x.device), 1.0)
