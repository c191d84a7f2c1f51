"""Partial face inpainting by a learned generator: eyes, nose or mouth re-drawn by a small U-Net.

Training (on the real train split): a random part mask (a rectangle or
ellipse over the eyes, nose or mouth, jittered; geometry from
:mod:`fakescope.forge.generators.face_regions`) zeroes a region; the net sees
the holed image plus the mask channel ([B, 4, H, W]) and is trained with L1
on the hole (mean absolute error over masked pixels only). No adversarial
term: the fills are plausible but smooth, which is itself a learnable trace.

Manipulation: for each real face a part mask is drawn from the rng and the
output is the original outside the mask and the net's prediction inside
(a hard composite, so no pixel outside the mask changes).

The net is a three-level conv encoder-decoder with skip connections and a
dilated bottleneck (channels width/2, width, 2*width, 4*width by level: ~0.17 M
parameters at the default ``width`` 16), fully convolutional,
so the same weights run at any size.
"""

from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from fakescope.forge.generators.base import GENERATORS, GeneratorParams, ImageGenerator
from fakescope.forge.generators.face_regions import DEFAULT_GEOMETRY, region_masks


class InpaintParams(GeneratorParams):
    """Inpainting settings (``steps``, ``batch_size``, ``lr`` as for every generator)."""

    steps: int = Field(default=1500, ge=0)
    lr: float = Field(default=1e-3, gt=0)
    width: int = Field(default=16, ge=4, le=128)
    jitter: float = Field(default=0.15, ge=0, lt=0.5)


def _block(c_in: int, c_out: int, stride: int = 1, dilation: int = 1) -> nn.Sequential:
    """3x3 conv + LeakyReLU (padding keeps the size, or halves it with stride 2)."""
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, stride=stride, padding=dilation, dilation=dilation),
        nn.LeakyReLU(0.2),
    )


def smooth_fill(images: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """Fill holes of ``images`` [N, 3, H, W] (``masks`` [N, 1, H, W], 1 = hole) by push-pull.

    The known pixels are averaged down an image pyramid (2x2 means weighted
    by validity), then the coarser estimates are pulled back up into the
    holes: a smooth interpolation of the surrounding colours of any hole
    size. Known pixels are returned unchanged.
    """
    colour, weight = images * (1.0 - masks), 1.0 - masks
    pyramid = [(colour, weight)]
    while min(colour.shape[-2:]) > 2:
        colour = F.avg_pool2d(colour, 2, ceil_mode=True)
        weight = F.avg_pool2d(weight, 2, ceil_mode=True)
        pyramid.append((colour, weight))
    colour, weight = pyramid[-1]
    fill = colour / weight.clamp_min(1e-6)
    for colour, weight in reversed(pyramid[:-1]):
        up = F.interpolate(fill, size=colour.shape[-2:], mode="bilinear", align_corners=False)
        fill = colour + (1.0 - weight) * up
    return fill


class InpaintNet(nn.Module):
    """U-Net-like filler: [B, 4, H, W] (holed RGB + mask) -> [B, 3, H, W] in [0, 1].

    The net predicts a correction (in logit space) of :func:`smooth_fill`'s
    interpolation of the hole, so it starts from a plausible smooth fill and
    learns the face parts' structure. Any H, W work: inputs are edge-padded to
    a multiple of 8 (three stride-2 levels) and the output is cropped back.
    """

    def __init__(self, width: int = 16) -> None:
        super().__init__()
        c0, c1, c2, c3 = max(4, width // 2), width, 2 * width, 4 * width
        self.inc = _block(4, c0)
        self.down1 = nn.Sequential(_block(c0, c1, stride=2), _block(c1, c1))
        self.down2 = nn.Sequential(_block(c1, c2, stride=2), _block(c2, c2))
        self.down3 = _block(c2, c3, stride=2)
        self.mid = nn.Sequential(_block(c3, c3, dilation=2), _block(c3, c3, dilation=4))
        self.up3 = _block(c3 + c2, c2)
        self.up2 = _block(c2 + c1, c1)
        self.up1 = _block(c1 + c0, c0)
        self.out = nn.Conv2d(c0, 3, 3, padding=1, bias=False)
        with torch.no_grad():  # start close to the smooth fill
            self.out.weight.mul_(0.1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Predicted image [B, 3, H, W] in [0, 1] for input [B, 4, H, W]."""
        h_in, w_in = x.shape[-2:]
        base = smooth_fill(x[:, :3], x[:, 3:]).clamp(1e-3, 1 - 1e-3)
        x = F.pad(x, (0, -w_in % 8, 0, -h_in % 8), mode="replicate")
        s0 = self.inc(x)
        s1 = self.down1(s0)
        s2 = self.down2(s1)
        h = self.mid(self.down3(s2))
        h = self.up3(torch.cat([F.interpolate(h, scale_factor=2.0, mode="nearest"), s2], 1))
        h = self.up2(torch.cat([F.interpolate(h, scale_factor=2.0, mode="nearest"), s1], 1))
        h = self.up1(torch.cat([F.interpolate(h, scale_factor=2.0, mode="nearest"), s0], 1))
        return torch.sigmoid(torch.logit(base) + self.out(h)[..., :h_in, :w_in])


def holed_input(images: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """Net input [N, 4, H, W]: ``images`` with the masked region zeroed, plus the mask [N, 1, H, W]."""
    return torch.cat([images * (1.0 - masks), masks], dim=1)


def hole_l1(pred: torch.Tensor, target: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """Mean absolute error over masked pixels (scalar); masks [N, 1, H, W] with 1 = hole."""
    diff = (pred - target).abs() * masks
    return diff.sum() / (3.0 * masks.sum()).clamp_min(1.0)


@GENERATORS.register("inpaint")
class Inpaint(ImageGenerator):
    """Re-draw one face part (eyes, nose or mouth) of each real face with a learned filler."""

    name = "inpaint"
    family = "inpaint"
    kind = "manipulation"
    #: Whether :meth:`manipulate` needs ``donors`` (the fill is learned, nothing is pasted in).
    uses_donors: ClassVar[bool] = False
    Params: ClassVar[type[GeneratorParams]] = InpaintParams
    params: InpaintParams

    def _build(self) -> None:
        """Build the networks and optimizers (params, image_size, seed and device are set)."""
        torch.manual_seed(self.seed)
        self.net = InpaintNet(self.params.width).to(self.device)
        self.opt = torch.optim.Adam(self.net.parameters(), lr=self.params.lr, betas=(0.5, 0.999))

    def modules(self) -> dict[str, nn.Module]:
        """The filler network."""
        return {"net": self.net}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """Adam over the filler's weights."""
        return {"opt": self.opt}

    def masks(self, n: int, rng: torch.Generator) -> torch.Tensor:
        """Random part masks [n, 1, H, W] at the working size (1 = region to inpaint)."""
        return region_masks(
            n, self.image_size, rng, DEFAULT_GEOMETRY, jitter=self.params.jitter
        ).to(self.device)

    def train_step(self, batch: torch.Tensor, rng: torch.Generator) -> dict[str, float]:
        """One Adam step of hole-L1 on ``batch`` [B, 3, H, W] with fresh random part masks."""
        masks = self.masks(len(batch), rng)
        pred = self.net(holed_input(batch, masks))
        loss = hole_l1(pred, batch, masks)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        return {"l1": loss.item()}

    @torch.no_grad()
    def manipulate_with_mask(
        self, images: torch.Tensor, rng: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Inpainted images [N, 3, H, W] in [0, 1] and the hard masks [N, 1, H, W] used."""
        images = images.to(self.device)
        masks = self.masks(len(images), rng)
        was_training = self.net.training
        self.net.eval()
        pred = self.net(holed_input(images, masks))
        self.net.train(was_training)
        out = images * (1.0 - masks) + pred * masks
        return out.clamp(0.0, 1.0), masks

    def manipulate(
        self, images: torch.Tensor, rng: torch.Generator, donors: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Copies of ``images`` [N, 3, H, W] with one face part inpainted; ``donors`` is ignored."""
        return self.manipulate_with_mask(images, rng)[0]
