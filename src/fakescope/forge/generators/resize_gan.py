"""A GAN whose generator up-samples by resizing (nearest/bilinear) and then convolving.

Resize-then-conv (Odena et al. 2016) avoids the uneven overlap of transposed
convolutions, so its up-sampling trace differs from
:mod:`fakescope.forge.generators.dcgan`'s checkerboard: nearest resizing leaves
2x2 block replication smoothed by the conv, bilinear a low-pass trace.

By default (``modulated=False``) the generator is a resize-conv DCGAN variant:
z -> 4x4 map by a linear layer, then per stage resize + 3x3 conv + BatchNorm +
ReLU, and a 1x1 conv to RGB with tanh. With ``modulated=True`` it is
StyleGAN-like: a mapping MLP turns ``z`` into ``w``, and every 3x3 conv is a
*modulated convolution* (input channels scaled per sample by an affine map of
``w``, outputs demodulated to unit expected variance), followed by a
parameter-free BatchNorm; the 4x4 input is a linear map of ``w`` rather than
StyleGAN's learned constant. On short CPU trainings the modulated variant
converges more slowly and with less sample diversity (a constant input
collapsed to a single image after 300 CIFAR-10 steps; BatchNorm and the
w-dependent input reduce but do not remove that), so it is opt-in.
The discriminator and the training recipe are shared with dcgan
(:class:`~fakescope.forge.generators.blocks.AdversarialGenerator`).
"""

from __future__ import annotations

from itertools import pairwise
from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from fakescope.forge.generators.base import GENERATORS
from fakescope.forge.generators.blocks import (
    BASE_RES,
    AdversarialGenerator,
    GANParams,
    channel_plan,
)


class ResizeGANParams(GANParams):
    """GAN settings plus the resize kernel, the style switch and the mapping depth."""

    upsample: Literal["nearest", "bilinear"] = "nearest"
    modulated: bool = False
    mapping_layers: int = Field(default=2, ge=1)


def _resize(x: torch.Tensor, mode: str) -> torch.Tensor:
    """x2 up-sampling of ``x`` [B, C, H, W] -> [B, C, 2H, 2W] by ``mode`` interpolation."""
    if mode == "nearest":
        return F.interpolate(x, scale_factor=2, mode="nearest")
    return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)


class ModulatedConv2d(nn.Module):
    """StyleGAN2-style modulated conv: per-sample input scaling by a style, then demodulation.

    ``x`` [B, cin, H, W], ``w`` [B, w_dim] -> [B, cout, H, W]. Computed as
    scale-input, shared conv, scale-output (equal to convolving with per-sample
    weights ``W * s`` normalised to unit norm per output channel).
    """

    def __init__(self, cin: int, cout: int, kernel: int, w_dim: int, *, demodulate: bool) -> None:
        super().__init__()
        self.weight = nn.Parameter(
            torch.randn(cout, cin, kernel, kernel) / (cin * kernel**2) ** 0.5
        )
        self.bias = nn.Parameter(torch.zeros(cout))
        self.affine = nn.Linear(w_dim, cin)
        nn.init.ones_(self.affine.bias)  # styles start near 1: modulation starts as identity
        self.demodulate = demodulate

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        s = self.affine(w)  # [B, cin]
        y = F.conv2d(x * s[:, :, None, None], self.weight, padding=self.weight.shape[-1] // 2)
        if self.demodulate:
            # d[b, o] = 1 / sqrt(sum_i s[b, i]^2 * sum_kk W[o, i]^2)
            energy = (s * s) @ self.weight.pow(2).sum(dim=(2, 3)).t()
            y = y * torch.rsqrt(energy + 1e-8)[:, :, None, None]
        return y + self.bias[None, :, None, None]


class StyleResizeGenerator(nn.Module):
    """``z`` [B, z_dim] -> [B, 3, S, S] in [-1, 1]: mapping MLP, then modulated convs."""

    def __init__(self, z_dim: int, chans: list[int], mode: str, mapping_layers: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for _ in range(mapping_layers):
            layers += [nn.Linear(z_dim, z_dim), nn.LeakyReLU(0.2)]
        self.mapping = nn.Sequential(*layers)
        # StyleGAN starts from a learned constant; here the 4x4 input is a linear map of w,
        # so sample diversity does not rest on the styles alone (short CPU trainings collapse).
        self.stem = nn.Sequential(
            nn.Linear(z_dim, chans[0] * BASE_RES * BASE_RES),
            nn.Unflatten(1, (chans[0], BASE_RES, BASE_RES)),
        )
        self.convs = nn.ModuleList(
            [ModulatedConv2d(chans[0], chans[0], 3, z_dim, demodulate=True)]
            + [
                ModulatedConv2d(cin, cout, 3, z_dim, demodulate=True)
                for cin, cout in pairwise(chans)
            ]
        )
        self.norms = nn.ModuleList(nn.BatchNorm2d(c, affine=False) for c in chans)
        self.to_rgb = ModulatedConv2d(chans[-1], 3, 1, z_dim, demodulate=False)
        self.mode = mode

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        z = z * torch.rsqrt(z.pow(2).mean(dim=1, keepdim=True) + 1e-8)  # pixel norm
        w = self.mapping(z)
        h = self.stem(w)
        for i, conv in enumerate(self.convs):
            if i > 0:
                h = _resize(h, self.mode)
            h = F.leaky_relu(self.norms[i](conv(h, w)), 0.2)
        return torch.tanh(self.to_rgb(h, w))


class PlainResizeGenerator(nn.Module):
    """``z`` [B, z_dim] -> [B, 3, S, S] in [-1, 1]: linear to 4x4, then resize + conv + BN + ReLU."""

    def __init__(self, z_dim: int, chans: list[int], mode: str) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Linear(z_dim, chans[0] * BASE_RES * BASE_RES, bias=False),
            nn.Unflatten(1, (chans[0], BASE_RES, BASE_RES)),
            nn.BatchNorm2d(chans[0]),
            nn.ReLU(),
        )
        self.blocks = nn.ModuleList(
            nn.Sequential(
                nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()
            )
            for cin, cout in pairwise(chans)
        )
        self.to_rgb = nn.Conv2d(chans[-1], 3, 1)
        self.mode = mode

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.stem(z)
        for block in self.blocks:
            h = block(_resize(h, self.mode))
        return torch.tanh(self.to_rgb(h))


@GENERATORS.register("resize_gan")
class ResizeGAN(AdversarialGenerator):
    """Resize-then-conv GAN sampler (family ``gan``), optionally StyleGAN-like."""

    name = "resize_gan"
    Params = ResizeGANParams

    def build_generator(self) -> nn.Module:
        hp = self.hp
        assert isinstance(hp, ResizeGANParams)
        # Feature maps at sides 4 .. S/2 as in dcgan, plus a narrow one at full size S.
        chans = channel_plan(self.stages, hp.base_channels, hp.max_channels)
        chans.append(max(hp.base_channels // 2, 8))
        if hp.modulated:
            return StyleResizeGenerator(hp.z_dim, chans, hp.upsample, hp.mapping_layers)
        return PlainResizeGenerator(hp.z_dim, chans, hp.upsample)
