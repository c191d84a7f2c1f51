"""Helpers for loss tests: one SGD step taken on the network outputs themselves."""

from __future__ import annotations

import torch
from torch import nn


def sgd_step(
    loss: nn.Module, out: torch.Tensor, y: torch.Tensor, lr: float
) -> tuple[float, float, torch.Tensor]:
    """(loss before, loss after, updated outputs [B, K]) of one SGD step on ``out`` [B, K]."""
    out = out.clone().requires_grad_(True)
    opt = torch.optim.SGD([out], lr=lr)
    before = loss(out, y)
    opt.zero_grad()
    before.backward()
    opt.step()
    with torch.no_grad():
        after = loss(out, y)
    return before.item(), after.item(), out.detach()
