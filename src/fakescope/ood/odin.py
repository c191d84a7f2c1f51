"""``odin``: temperature scaling + input perturbation (Liang et al., ICLR'18).

For a preprocessed batch x [B, 3, H, W] and the detector's differentiable
logits f(x) [B, C] (:meth:`Detector.differentiable_logits`):

* y = argmax f(x); loss = cross_entropy(f(x) / T, y) (= -log S_y(x; T));
* x' = x - eps * sign(d loss / d x) / std, with std the detector's per-channel
  normalisation std, so ``eps`` is in [0, 1] pixel units;
* score = -max_c softmax(f(x') / T)_c; higher = more out-of-distribution.

Defaults T = 1000, eps = 0.0012 (the paper's / S1's). The scores are made
during feature extraction (it needs the images), see
:class:`~fakescope.ood.base.InputScorer`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F

from fakescope.errors import ConfigError
from fakescope.ood.base import SCORERS, InputScorer

if TYPE_CHECKING:
    from fakescope.detectors.base import Detector


def odin_scores(
    logits_fn: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    temperature: float,
    eps: float,
    std: tuple[float, float, float] | None = None,
) -> np.ndarray:
    """ODIN OOD scores [B] (higher = more OOD) for ``x`` [B, 3, H, W].

    ``logits_fn``: a differentiable callable tensor [B, 3, H, W] -> logits [B, C].
    """
    with torch.enable_grad():
        xg = x.detach().clone().float().requires_grad_(True)
        logits = logits_fn(xg).float()
        pred = logits.argmax(dim=1).detach()
        loss = F.cross_entropy(logits / temperature, pred, reduction="sum")
        (grad,) = torch.autograd.grad(loss, xg)
    step = grad.sign()
    if std is not None:
        step = step / torch.tensor(std, dtype=step.dtype).view(1, -1, 1, 1)
    with torch.no_grad():
        perturbed = logits_fn(xg.detach() - eps * step).float()
        proba = torch.softmax(perturbed / temperature, dim=1)
    return (-proba.max(dim=1).values).cpu().numpy().astype(np.float64)


@SCORERS.register("odin")
class ODINScorer(InputScorer):
    """ODIN score [N] (negative max tempered softmax of the perturbed input), higher = more OOD."""

    name = "odin"

    def __init__(self, temperature: float = 1000.0, eps: float = 0.0012) -> None:
        super().__init__(temperature=temperature, eps=eps)
        if not temperature > 0 or eps < 0:
            raise ConfigError(f"odin needs temperature > 0 and eps >= 0, got {temperature}, {eps}")
        self.temperature = float(temperature)
        self.eps = float(eps)

    def batch_scores(self, detector: Detector, x: torch.Tensor) -> np.ndarray:
        """ODIN scores [B] for a preprocessed batch ``x`` [B, 3, H, W] of ``detector``."""
        std = detector.input_config.std
        return odin_scores(
            detector.differentiable_logits,
            x,
            self.temperature,
            self.eps,
            (float(std[0]), float(std[1]), float(std[2])),
        )
