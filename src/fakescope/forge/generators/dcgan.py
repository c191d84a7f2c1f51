"""DCGAN: a GAN whose generator up-samples with stride-2 transposed convolutions.

Transposed convolutions with kernel 4 and stride 2 overlap unevenly, which
leaves the classic periodic *checkerboard* trace in the spectrum of the fakes -
the GAN up-sampling artefact detectors such as NPR look for. Compare
:mod:`fakescope.forge.generators.resize_gan` (resize-then-conv up-sampling).

Recipe (Radford et al. 2016): ``z`` [B, z_dim] ~ N(0, I) -> 4x4 map by a
transposed conv, then one stride-2 transposed conv + BatchNorm + ReLU per
stage, the last one straight to RGB with tanh; discriminator of strided convs
with LeakyReLU; Adam(2e-4, betas (0.5, 0.999)), non-saturating or hinge loss.
Works at any power-of-two size >= 16 (3 stages at 32 px, 5 at 128 px).
"""

from __future__ import annotations

from itertools import pairwise

import torch
from torch import nn

from fakescope.forge.generators.base import GENERATORS
from fakescope.forge.generators.blocks import (
    BASE_RES,
    AdversarialGenerator,
    channel_plan,
    transpose_up_block,
)


class DCGANGenerator(nn.Module):
    """``z`` [B, z_dim] -> images [B, 3, S, S] in [-1, 1] by transposed convs only."""

    def __init__(self, z_dim: int, stages: int, base: int, cap: int) -> None:
        super().__init__()
        chans = channel_plan(stages, base, cap)
        self.stem = nn.Sequential(
            nn.ConvTranspose2d(z_dim, chans[0], BASE_RES, stride=1, padding=0, bias=False),
            nn.BatchNorm2d(chans[0]),
            nn.ReLU(),
        )
        self.ups = nn.Sequential(*(transpose_up_block(cin, cout) for cin, cout in pairwise(chans)))
        self.to_rgb = nn.ConvTranspose2d(chans[-1], 3, 4, stride=2, padding=1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """``z`` [B, z_dim] -> [B, 3, S, S] in [-1, 1]."""
        h = self.stem(z[:, :, None, None])
        return torch.tanh(self.to_rgb(self.ups(h)))


@GENERATORS.register("dcgan")
class DCGAN(AdversarialGenerator):
    """DCGAN sampler (family ``gan``): transposed-conv up-sampling, the checkerboard trace."""

    name = "dcgan"

    def build_generator(self) -> nn.Module:
        return DCGANGenerator(
            self.hp.z_dim, self.stages, self.hp.base_channels, self.hp.max_channels
        )
