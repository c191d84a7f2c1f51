"""The S1 "scorer" network: a U-Net whose encoder feeds a classifier and whose decoder reconstructs.

::

    x [B, 3, H, W] in [0, 1]
      encoder: depth x (DoubleConv + MaxPool2d), widths w, 2w, ..., then a DoubleConv bottleneck
      embedding h [B, D] = global average pool of the bottleneck (D = w * 2^depth)
      classifier: 5-layer MLP  D -> m -> m/2 -> m/4 -> m/8 -> K  (hidden layers: Linear, BN, ReLU,
                  Dropout 0.3; m = ``mlp_hidden``)
      confidence (optional, DeVries & Taylor 2018): c = sigmoid(fc(g)), g = the MLP's last hidden
                  layer [B, m/8]; higher = more confident
      decoder: depth x (ConvTranspose2d x2 + skip concat + DoubleConv), 1x1 conv, sigmoid
               -> reconstruction [B, 3, H, W] in [0, 1]

A DoubleConv is (Conv3x3, BN, ReLU) twice. H and W must be divisible by 2^depth.
``width`` and ``depth`` make it small enough for tests (e.g. width 4, depth 2).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor, nn

from fakescope.errors import ConfigError

#: Number of Linear layers of the classifier MLP (the thesis's 5-layer head).
MLP_LAYERS = 5


class ScorerOutput(NamedTuple):
    """One forward pass: ``logits`` [B, K], ``reconstruction`` [B, 3, H, W] in [0, 1],
    ``confidence_logit`` [B] (None without the branch; c = sigmoid of it), ``embedding`` [B, D]."""

    logits: Tensor
    reconstruction: Tensor
    confidence_logit: Tensor | None
    embedding: Tensor


def _double_conv(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
        nn.Conv2d(c_out, c_out, 3, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    )


def _mlp(
    d_in: int, hidden: int, n_out: int, dropout: float
) -> tuple[nn.Sequential, nn.Linear, int]:
    """Hidden layers (4 x Linear-BN-ReLU-Dropout, widths hidden, hidden/2, ...) and the output layer."""
    widths = [max(1, hidden >> i) for i in range(MLP_LAYERS - 1)]
    layers: list[nn.Module] = []
    prev = d_in
    for w in widths:
        layers += [
            nn.Linear(prev, w),
            nn.BatchNorm1d(w),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
        ]
        prev = w
    return nn.Sequential(*layers), nn.Linear(prev, n_out), prev


class UNetScorer(nn.Module):
    """See the module docstring. ``num_outputs`` K: 1 (``bce``) or C logits (``ce``)."""

    def __init__(
        self,
        num_outputs: int,
        *,
        width: int = 16,
        depth: int = 3,
        mlp_hidden: int = 256,
        dropout: float = 0.3,
        confidence: bool = False,
    ) -> None:
        super().__init__()
        if width < 1 or depth < 1 or mlp_hidden < 8 or num_outputs < 1:
            raise ConfigError(
                f"unet needs width >= 1, depth >= 1, mlp_hidden >= 8, outputs >= 1; got width={width}, "
                f"depth={depth}, mlp_hidden={mlp_hidden}, outputs={num_outputs}"
            )
        self.depth = depth
        chans = [width << i for i in range(depth + 1)]  # w, 2w, ..., w * 2^depth
        self.down = nn.ModuleList(
            [_double_conv(3 if i == 0 else chans[i - 1], chans[i]) for i in range(depth)]
        )
        self.pool = nn.MaxPool2d(2)
        self.bottleneck = _double_conv(chans[depth - 1], chans[depth])
        self.embedding_dim = chans[depth]
        self.hidden, self.head, last = _mlp(chans[depth], mlp_hidden, num_outputs, dropout)
        self.confidence = nn.Linear(last, 1) if confidence else None
        self.up = nn.ModuleList(
            [
                nn.ConvTranspose2d(chans[i + 1], chans[i], 2, stride=2)
                for i in reversed(range(depth))
            ]
        )
        self.up_conv = nn.ModuleList(
            [_double_conv(2 * chans[i], chans[i]) for i in reversed(range(depth))]
        )
        self.out = nn.Conv2d(chans[0], 3, 1)

    def forward(self, x: Tensor) -> ScorerOutput:
        """All outputs for ``x`` [B, 3, H, W] (H, W divisible by 2^depth)."""
        h, w = x.shape[-2:]
        step = 1 << self.depth
        if h % step or w % step:
            raise ConfigError(
                f"unet with depth {self.depth} needs image sides divisible by {step}, got {h}x{w}; "
                "change img_size or depth"
            )
        skips: list[Tensor] = []
        z = x
        for block in self.down:
            z = block(z)
            skips.append(z)
            z = self.pool(z)
        z = self.bottleneck(z)
        emb = z.mean(dim=(2, 3))
        g = self.hidden(emb)
        logits = self.head(g)
        conf = self.confidence(g).squeeze(1) if self.confidence is not None else None
        for up, conv, skip in zip(self.up, self.up_conv, reversed(skips), strict=True):
            z = conv(torch.cat([up(z), skip], dim=1))
        recon = torch.sigmoid(self.out(z))
        return ScorerOutput(logits, recon, conf, emb)
