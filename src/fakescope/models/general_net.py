"""The network of the ``general`` detector: frozen multi-block taps fused with an NPR branch.

Two views of an image ``x`` [B, 3, H, W] (ImageNet-normalised, never resized):

* **semantic-to-low-level taps** (RINE, ECCV'24): pooled features of several
  blocks of a frozen pretrained backbone (:class:`~fakescope.models.intermediate.IntermediateTaps`),
  each standardised and projected to ``tap_dim`` by its own small trainable
  layer, then summed with learnt block-importance weights ``softmax(a)``;
* **up-sampling residual** (NPR, CVPR'24): a small trainable CNN on
  ``npr_residual(x)`` = x - up(down(x)) (nearest, 2x), whose mean/std-pooled
  maps are projected to ``tap_dim``.

The concatenation [B, E] (E = ``tap_dim`` or 2 ``tap_dim`` with the NPR
branch) is the embedding; a 2-layer head maps it to C logits.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from fakescope.models.intermediate import IntermediateTaps, pool_map
from fakescope.models.npr import npr_residual


class StableBatchNorm1d(nn.BatchNorm1d):
    """BatchNorm1d that uses its running statistics for a training batch of one row
    (a batch that lost items to decode errors), instead of failing."""

    def forward(self, x: Tensor) -> Tensor:
        if self.training and x.shape[0] < 2:
            return F.batch_norm(
                x, self.running_mean, self.running_var, self.weight, self.bias, False, 0.0, self.eps
            )
        return super().forward(x)


class NPRBranch(nn.Module):
    """Small CNN on the NPR residual: [B, 3, H, W] -> [B, out_dim] (trainable).

    ``residual=False`` feeds it the (normalised) pixels instead: a from-scratch
    low-level texture branch without NPR's up-sampling prior.
    """

    def __init__(self, channels: int, out_dim: int, *, residual: bool = True) -> None:
        super().__init__()
        c = channels
        self.residual = residual

        def block(cin: int, cout: int, stride: int) -> list[nn.Module]:
            return [
                nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False),
                nn.BatchNorm2d(cout),
                nn.ReLU(inplace=True),
            ]

        self.body = nn.Sequential(*block(3, c, 1), *block(c, 2 * c, 2), *block(2 * c, 2 * c, 2))
        self.proj = nn.Sequential(nn.Linear(4 * c, out_dim), nn.GELU())

    def forward(self, x: Tensor) -> Tensor:
        inp = npr_residual(x) if self.residual else x
        return self.proj(pool_map(self.body(inp), "meanstd"))


class GeneralNet(nn.Module):
    """Frozen taps + NPR branch + 2-layer head (see the module docstring).

    ``forward(x [B, 3, H, W]) -> logits [B, num_classes]``;
    ``embed(x) -> [B, embedding_dim]``; ``block_weights`` -> [T] (softmax, sums to 1).
    """

    def __init__(
        self,
        taps: IntermediateTaps,
        num_classes: int,
        *,
        tap_dim: int = 128,
        npr_channels: int = 16,
        branch_input: str = "npr",
        hidden: int = 128,
        dropout: float = 0.2,
    ) -> None:
        super().__init__()
        self.taps = taps
        self.norms = nn.ModuleList(StableBatchNorm1d(w) for w in taps.widths)
        self.projs = nn.ModuleList(
            nn.Sequential(nn.Dropout(dropout), nn.Linear(w, tap_dim), nn.GELU())
            for w in taps.widths
        )
        self.block_logits = nn.Parameter(torch.zeros(len(taps.widths)))
        self.npr = (
            NPRBranch(npr_channels, tap_dim, residual=branch_input == "npr")
            if npr_channels > 0
            else None
        )
        self.embedding_dim = tap_dim * (2 if self.npr is not None else 1)
        self.head = nn.Sequential(
            nn.Linear(self.embedding_dim, hidden),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(hidden, num_classes),
        )

    @property
    def block_weights(self) -> Tensor:
        """The learnt importance of each tap [T] (softmax; sums to 1)."""
        return torch.softmax(self.block_logits, dim=0)

    def embed(self, x: Tensor) -> Tensor:
        """The fused representation [B, E] of images ``x`` [B, 3, H, W]."""
        pooled = self.taps(x)
        w = self.block_weights
        parts = [
            proj(norm(t)) for t, norm, proj in zip(pooled, self.norms, self.projs, strict=True)
        ]
        fused = sum((w[i] * p for i, p in enumerate(parts)), torch.zeros_like(parts[0]))
        if self.npr is None:
            return fused
        return torch.cat([fused, self.npr(x)], dim=1)

    def outputs(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """``(logits [B, C], embedding [B, E])`` of images ``x`` [B, 3, H, W], float32, one pass.

        The one inference path: the detector's torch backend and its ONNX export
        (:class:`fakescope.detectors.export.GeneralExport`) both call it.
        """
        emb = self.embed(x).float()
        logits: Tensor = self.head(emb).float()
        return logits, emb

    def forward(self, x: Tensor) -> Tensor:
        """Logits [B, C] of images ``x`` [B, 3, H, W]."""
        out: Tensor = self.head(self.embed(x))
        return out
