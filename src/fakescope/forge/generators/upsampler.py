"""``upsampler``: learned super-resolution of downscaled reals (family ``upsampler``, a manipulation).

ForenSynths' SAN / SITD analogue: a real image [B, 3, H, W] is downscaled by
``factor`` with a box filter (the mean of each ``factor`` x ``factor`` block) and
restored to [B, 3, H, W] by a small learned network, trained with an L1 loss
on the real train split (input = downscaled real, target = the real).

Architecture (ESPCN-style sub-pixel convolution with a bicubic skip)::

    out = bicubic_up(lr) + PixelShuffle(head(body(stem(lr))))

All convolutions run at the low resolution; the residual is produced as
``3 * factor**2`` channels and rearranged to full resolution by PixelShuffle.
The head is zero-initialised, so the untrained network is exactly bicubic
up-sampling and training only has to learn the missing detail. PixelShuffle
was chosen on purpose: each of the ``factor**2`` sub-pixel positions gets its
own filter, which leaves a periodic (period ``factor``) trace in the output, the
kind of up-sampling artefact learned super-resolution leaves in the wild.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from fakescope.errors import ConfigError, DataError
from fakescope.forge.generators.base import GENERATORS, GeneratorParams, ImageGenerator

#: Images per chunk in :meth:`UpsamplerGenerator.manipulate` (bounds memory at 128 px).
CHUNK = 64


def box_downscale(images: torch.Tensor, factor: int) -> torch.Tensor:
    """Box-filter downscale [B, C, H, W] -> [B, C, H / factor, W / factor] (block means)."""
    return F.avg_pool2d(images, kernel_size=factor, stride=factor)


def bicubic_upscale(images: torch.Tensor, factor: int) -> torch.Tensor:
    """Bicubic up-scale [B, C, h, w] -> [B, C, h * factor, w * factor] (not clamped)."""
    return F.interpolate(images, scale_factor=factor, mode="bicubic", align_corners=False)


class _ResBlock(nn.Module):
    """conv3x3 - ReLU - conv3x3 with an identity skip; [B, C, h, w] -> same shape."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(F.relu(self.conv1(x)))


class SubPixelSR(nn.Module):
    """Super-resolution net: low-res [B, 3, h, w] -> [B, 3, h * factor, w * factor] (unclamped)."""

    def __init__(self, factor: int, hidden: int, n_blocks: int) -> None:
        super().__init__()
        self.factor = factor
        self.stem = nn.Conv2d(3, hidden, 3, padding=1)
        self.body = nn.Sequential(*[_ResBlock(hidden) for _ in range(n_blocks)])
        self.head = nn.Conv2d(hidden, 3 * factor * factor, 3, padding=1)
        nn.init.zeros_(self.head.weight)  # the untrained net is exactly bicubic up-sampling
        if self.head.bias is not None:
            nn.init.zeros_(self.head.bias)

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        residual = F.pixel_shuffle(self.head(self.body(F.relu(self.stem(lr)))), self.factor)
        return bicubic_upscale(lr, self.factor) + residual


class UpsamplerParams(GeneratorParams):
    """Up-sampler settings (defaults: ~80k parameters)."""

    lr: float = Field(default=1e-3, gt=0)
    factor: int = Field(default=2, ge=2, le=8)
    hidden: int = Field(default=32, ge=4)
    n_blocks: int = Field(default=4, ge=0)


@GENERATORS.register("upsampler")
class UpsamplerGenerator(ImageGenerator):
    """Learned ``factor``x super-resolution applied to box-downscaled reals (see the module docstring)."""

    name = "upsampler"
    family = "upsampler"
    kind = "manipulation"
    Params = UpsamplerParams
    params: UpsamplerParams

    def _build(self) -> None:
        """Build the networks and optimizers (params, image_size, seed and device are set)."""
        p = self.params
        if self.image_size % p.factor:
            raise ConfigError(
                f"upsampler factor {p.factor} does not divide image size {self.image_size}; "
                "choose a factor that divides it"
            )
        torch.manual_seed(self.seed)
        self.net = SubPixelSR(p.factor, p.hidden, p.n_blocks).to(self.device)
        self.opt = torch.optim.Adam(self.net.parameters(), lr=p.lr)

    def modules(self) -> dict[str, nn.Module]:
        return {"net": self.net}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"opt": self.opt}

    def train_step(self, batch: torch.Tensor, rng: torch.Generator) -> dict[str, float]:
        """One L1 step restoring ``batch`` [B, 3, H, W] from its box-downscaled copy; returns ``{"l1"}``."""
        restored = self.net(box_downscale(batch, self.params.factor))
        loss = (restored - batch).abs().mean()
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        return {"l1": float(loss.detach())}

    @torch.no_grad()
    def manipulate(
        self, images: torch.Tensor, rng: torch.Generator, donors: torch.Tensor | None = None
    ) -> torch.Tensor:
        """``SR(downscale(images))`` [n, 3, H, W] in [0, 1] for reals ``images`` [n, 3, H, W].

        Deterministic: ``rng`` and ``donors`` are not used.
        """
        if (
            images.ndim != 4
            or images.shape[-1] % self.params.factor
            or images.shape[-2] % self.params.factor
        ):
            raise DataError(
                f"upsampler needs images [n, 3, H, W] with H and W divisible by {self.params.factor}, "
                f"got {tuple(images.shape)}; resize them to the benchmark's image size first"
            )
        self.net.eval()
        out = [
            self.net(box_downscale(images[i : i + CHUNK].to(self.device), self.params.factor))
            .clamp(0, 1)
            .cpu()
            for i in range(0, len(images), CHUNK)
        ]
        return torch.cat(out) if out else images.new_zeros(0, 3, self.image_size, self.image_size)
