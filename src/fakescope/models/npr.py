"""NPR (Neighboring Pixel Relationships, CVPR'24): classify the up-sampling trace, not the image.

Generators up-sample feature maps, which leaves neighbouring pixels
correlated in 2x2 cells. NPR feeds the network the residual
``x - up(down(x, 0.5))`` with nearest interpolation: 0 wherever the image is
piecewise constant on 2x2 cells (exactly what a 2x nearest up-sampler makes),
and the local pixel differences elsewhere. :class:`NPRNet` puts that filter,
scaled by :data:`NPR_SCALE` (2/3, as the paper's network does), in front of any
timm model (``cnn`` detector, ``input_filter="npr"``); the paper's own shallow
ResNet is ``arch: npr_resnet50`` (:mod:`fakescope.models.npr_resnet`).
"""

from __future__ import annotations

from typing import Any, cast

import torch.nn.functional as F
from torch import Tensor, nn

#: The paper multiplies the residual by 2/3 before its first convolution.
NPR_SCALE = 2.0 / 3.0


def npr_residual(x: Tensor) -> Tensor:
    """``x - up(down(x, 0.5, nearest), nearest)`` for images ``x`` [B, C, H, W] (same shape).

    Down-sampling keeps every second pixel (rows/columns 0, 2, 4, ...); up-sampling
    goes back to exactly H x W, so odd sizes work too. A 2x nearest-up-sampled
    image gives exactly 0.
    """
    if x.dim() != 4:
        raise ValueError(f"npr_residual needs a batch [B, C, H, W], got shape {tuple(x.shape)}")
    height, width = x.shape[-2:]
    down = F.interpolate(x, scale_factor=0.5, mode="nearest")
    up = F.interpolate(down, size=(height, width), mode="nearest")
    return x - up


class NPRNet(nn.Module):
    """A timm model applied to :func:`npr_residual` of its input, times :data:`NPR_SCALE`.

    ``forward`` / ``forward_features`` take images [B, 3, H, W]; ``forward_head``
    and ``num_features`` are the wrapped model's (so pooled pre-logits work as usual).
    The wrapped model's tensors are named ``net.*`` in the state dict.
    """

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    @property
    def num_features(self) -> int:
        """The wrapped model's pooled feature width."""
        return int(cast(Any, self.net).num_features)

    @property
    def head_hidden_size(self) -> int:
        """The wrapped model's pre-logits width (timm; falls back to ``num_features``)."""
        return int(getattr(self.net, "head_hidden_size", 0) or self.num_features)

    def forward(self, x: Tensor) -> Tensor:
        """The wrapped model's output (logits or embedding) for images ``x`` [B, 3, H, W]."""
        out: Tensor = self.net(npr_residual(x) * NPR_SCALE)
        return out

    def forward_features(self, x: Tensor) -> Tensor:
        """The wrapped model's unpooled features of the residual of ``x`` [B, 3, H, W]."""
        feats: Tensor = cast(Any, self.net).forward_features(npr_residual(x) * NPR_SCALE)
        return feats

    def forward_head(self, feats: Tensor, pre_logits: bool = False) -> Tensor:
        """The wrapped model's head on ``feats`` (``pre_logits``: pooled features [B, D])."""
        out: Tensor = cast(Any, self.net).forward_head(feats, pre_logits=pre_logits)
        return out
