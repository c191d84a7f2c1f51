"""Frozen multi-block feature taps of a timm backbone (RINE, ECCV'24: intermediate blocks
carry low-level generator traces that the last layer drops).

:class:`IntermediateTaps` runs a timm model once and returns, for each chosen
block, the channel-wise spatial mean (and standard deviation) of its feature
map: a list of tensors [B, k * C_i] (k = 1 for ``pool="mean"``, 2 for
``"meanstd"``). The backbone is frozen: its parameters never get gradients and
it stays in eval mode (BatchNorm statistics never change), whatever
``.train()`` is called on a parent module.

For the packaged ``efficientnet_lite0`` the block indices are those of timm's
``forward_intermediates(..., extra_blocks=True)``: 0 = stem (32 channels), 1-7 =
the seven stages (16, 24, 40, 80, 112, 192, 320 channels); ``final=True`` adds
the 1280-channel head convolution's map (the features the classifier pools).
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any, Literal, cast

import torch
from torch import Tensor, nn

from fakescope.errors import ConfigError
from fakescope.models import effnet_lite0
from fakescope.models.timm_backbone import create_timm_model

Pool = Literal["mean", "meanstd"]


def pool_map(x: Tensor, pool: Pool) -> Tensor:
    """Global pooling of a feature map [B, C, H, W] -> [B, C] (mean) or [B, 2C] (mean, std).

    The std is the population standard deviation over H x W (0 for a 1 x 1 map).
    """
    flat = x.flatten(2)
    mean = flat.mean(dim=2)
    if pool == "mean":
        return mean
    std = flat.var(dim=2, unbiased=False).clamp_min(1e-12).sqrt()
    return torch.cat([mean, std], dim=1)


def create_frozen_timm(arch: str, *, pretrained: bool) -> nn.Module:
    """timm ``arch`` without classifier; ``efficientnet_lite0`` pretrained = the packaged
    ImageNet weights (offline), other archs pretrained = timm's hub weights (a download)."""
    if pretrained and arch == effnet_lite0.TIMM_ARCH:
        model = effnet_lite0.efficientnet_lite0_classifier(pretrained=True)
        cast(Any, model).reset_classifier(0)
        return model
    return create_timm_model(arch, pretrained=pretrained, num_classes=0)


class IntermediateTaps(nn.Module):
    """Pooled features of several blocks of a frozen timm ``model`` (see the module docstring).

    ``taps``: block indices for ``forward_intermediates`` (None = every block);
    ``final``: also pool the model's final feature map; ``pool``: "mean" or
    "meanstd". :attr:`widths` lists the width of each returned tensor.
    ``forward(x [B, 3, H, W]) -> list[Tensor [B, widths[i]]]``, computed
    without autograd.
    """

    def __init__(
        self,
        model: nn.Module,
        taps: Sequence[int] | None = None,
        *,
        final: bool = True,
        pool: Pool = "meanstd",
    ) -> None:
        super().__init__()
        if not hasattr(model, "forward_intermediates"):
            raise ConfigError(
                f"timm model {type(model).__name__} has no forward_intermediates; "
                "choose a backbone arch that timm can tap (e.g. efficientnet_lite0, resnet18)"
            )
        self.model = model
        self.taps = None if taps is None else [int(i) for i in taps]
        self.final = final
        self.pool: Pool = pool
        sig = inspect.signature(cast(Any, model).forward_intermediates).parameters
        self._extra = {"extra_blocks": True} if "extra_blocks" in sig else {}
        # without the final map, blocks after the last tap are never run (faster, smaller export)
        self._stop_early = not final and "stop_early" in sig
        for p in self.model.parameters():
            p.requires_grad_(False)
        self.model.eval()
        self.widths = self._probe_widths()

    def train(self, mode: bool = True) -> IntermediateTaps:
        """Keep the frozen backbone in eval mode (BatchNorm statistics never update)."""
        super().train(mode)
        self.model.eval()
        return self

    def _maps(self, x: Tensor) -> list[Tensor]:
        """The unpooled feature maps [B, C_i, H_i, W_i] of the taps (then the final map)."""
        m = cast(Any, self.model)
        try:
            if self._stop_early:
                inter = m.forward_intermediates(
                    x, indices=self.taps, intermediates_only=True, stop_early=True, **self._extra
                )
                return list(inter)
            final, inter = m.forward_intermediates(
                x, indices=self.taps, intermediates_only=False, **self._extra
            )
        except (IndexError, AssertionError, ValueError) as exc:
            raise ConfigError(
                f"backbone taps {self.taps} do not fit {type(self.model).__name__}: {exc}; "
                "use indices of its blocks (or null for all)"
            ) from None
        maps = list(inter)
        if self.final:
            maps.append(final)
        return maps

    @torch.no_grad()
    def _probe_widths(self) -> list[int]:
        x = torch.zeros(1, 3, 64, 64)
        return [int(pool_map(t, self.pool).shape[1]) for t in self._maps(x)]

    def forward(self, x: Tensor) -> list[Tensor]:
        """Pooled taps of images ``x`` [B, 3, H, W]: a list of [B, widths[i]] (no gradients)."""
        with torch.no_grad():
            return [pool_map(t, self.pool).float() for t in self._maps(x)]
