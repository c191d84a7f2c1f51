"""Small shared building blocks of the generator zoo: stage plans, conv blocks, a GAN trainer.

All networks here work on square images whose side is a power of two >= 16:
they go down to (encoders, discriminators) or start from (decoders,
generators) a 4x4 feature map, one factor of 2 per *stage*.
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from fakescope.errors import ConfigError
from fakescope.forge.generators.base import GeneratorParams, ImageGenerator

#: Side of the smallest feature map of every network in this module.
BASE_RES = 4


def upsampling_stages(image_size: int, who: str) -> int:
    """Number of x2 stages between a 4x4 map and ``image_size`` (a power of two >= 16)."""
    if image_size < 16 or image_size & (image_size - 1):
        raise ConfigError(
            f"{who} needs image_size a power of two >= 16 (got {image_size}); use e.g. 32 or 128"
        )
    return image_size.bit_length() - 1 - (BASE_RES.bit_length() - 1)


def channel_plan(stages: int, base: int, cap: int) -> list[int]:
    """Channels of the feature maps at sides 4, 8, ..., image_size / 2 (``stages`` entries).

    The map at side ``image_size / 2**k`` gets ``min(base * 2**(k-1), cap)`` channels:
    wide at low resolution, narrow (cheap) at high resolution.
    """
    return [min(base * 2 ** (stages - 1 - k), cap) for k in range(stages)]


def _sn(layer: nn.Module, on: bool) -> nn.Module:
    return spectral_norm(layer) if on else layer


def down_block(cin: int, cout: int, *, norm: bool, spectral: bool = False) -> nn.Sequential:
    """Stride-2 4x4 conv (+ BatchNorm) + LeakyReLU: [B, cin, H, W] -> [B, cout, H/2, W/2]."""
    layers: list[nn.Module] = [
        _sn(nn.Conv2d(cin, cout, 4, stride=2, padding=1, bias=not norm), spectral)
    ]
    if norm:
        layers.append(nn.BatchNorm2d(cout))
    layers.append(nn.LeakyReLU(0.2))
    return nn.Sequential(*layers)


def transpose_up_block(cin: int, cout: int) -> nn.Sequential:
    """Stride-2 4x4 transposed conv + BatchNorm + ReLU: [B, cin, H, W] -> [B, cout, 2H, 2W]."""
    return nn.Sequential(
        nn.ConvTranspose2d(cin, cout, 4, stride=2, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(),
    )


class ConvEncoder(nn.Module):
    """Strided-conv encoder: [B, 3, S, S] -> [B, out_features] (S a power of two >= 16).

    Used as the GAN discriminator (``out_features=1``, a real-vs-fake logit,
    higher = more real) and as the VAE encoder (``out_features=2 * latent``).
    """

    def __init__(
        self,
        image_size: int,
        out_features: int,
        *,
        base: int,
        cap: int,
        norm: bool,
        spectral: bool = False,
    ) -> None:
        super().__init__()
        chans = channel_plan(upsampling_stages(image_size, "this network"), base, cap)[::-1]
        blocks: list[nn.Module] = []
        cin = 3
        for i, cout in enumerate(chans):
            # No normalisation on the first block (the DCGAN recipe).
            blocks.append(down_block(cin, cout, norm=norm and i > 0, spectral=spectral))
            cin = cout
        self.features = nn.Sequential(*blocks)
        self.head = _sn(nn.Linear(cin * BASE_RES * BASE_RES, out_features), spectral)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` [B, 3, S, S] (any range) -> [B, out_features]."""
        return self.head(self.features(x).flatten(1))


class GANParams(GeneratorParams):
    """Settings shared by the zoo's GANs (Adam with the DCGAN betas; lr from the base)."""

    z_dim: int = Field(default=64, ge=1)
    base_channels: int = Field(default=32, ge=4)
    max_channels: int = Field(default=128, ge=4)
    beta1: float = Field(default=0.5, ge=0, lt=1)
    beta2: float = Field(default=0.999, ge=0, lt=1)
    loss: Literal["nonsaturating", "hinge"] = "nonsaturating"
    spectral_norm: bool = False


def discriminator_loss(real: torch.Tensor, fake: torch.Tensor, kind: str) -> torch.Tensor:
    """D loss from logits ``real``/``fake`` [B, 1] (higher logit = judged more real)."""
    if kind == "hinge":
        return F.relu(1 - real).mean() + F.relu(1 + fake).mean()
    return F.softplus(-real).mean() + F.softplus(fake).mean()


def generator_loss(fake: torch.Tensor, kind: str) -> torch.Tensor:
    """G loss from D's logits on fakes ``fake`` [B, 1] (non-saturating or hinge)."""
    if kind == "hinge":
        return -fake.mean()
    return F.softplus(-fake).mean()


class AdversarialGenerator(ImageGenerator):
    """A GAN sampler: subclasses build the generator network, this class trains and samples.

    The generator maps ``z`` [B, z_dim] ~ N(0, I) to images [B, 3, S, S] in
    [-1, 1]; the discriminator is a :class:`ConvEncoder` (BatchNorm, or
    spectral norm when ``spectral_norm`` is set). One step = one D update on a
    real batch and a fake batch, then one G update on the same fakes.
    """

    family = "gan"
    Params = GANParams
    sample_chunk = 256

    def _build(self) -> None:
        """Build the networks and optimizers (params, image_size, seed and device are set)."""
        assert isinstance(self.params, GANParams)
        self.hp: GANParams = self.params
        self.stages = upsampling_stages(self.image_size, f"{self.name} generator")
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            self.G = self.build_generator().to(self.device)
            self.D = ConvEncoder(
                self.image_size,
                1,
                base=self.hp.base_channels,
                cap=self.hp.max_channels,
                norm=not self.hp.spectral_norm,
                spectral=self.hp.spectral_norm,
            ).to(self.device)
        betas = (self.hp.beta1, self.hp.beta2)
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=self.hp.lr, betas=betas)
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=self.hp.lr, betas=betas)

    @abstractmethod
    def build_generator(self) -> nn.Module:
        """The generator network: ``z`` [B, z_dim] -> images [B, 3, S, S] in [-1, 1]."""

    def modules(self) -> dict[str, nn.Module]:
        return {"G": self.G, "D": self.D}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"G": self.opt_g, "D": self.opt_d}

    def train_step(self, batch: torch.Tensor, rng: torch.Generator) -> dict[str, float]:
        """One D and one G update; ``batch`` [B, 3, S, S] in [0, 1]; returns both losses."""
        real = batch * 2 - 1
        z = torch.randn(len(batch), self.hp.z_dim, generator=rng).to(self.device)
        fake = self.G(z)

        self.D.requires_grad_(True)
        self.opt_d.zero_grad(set_to_none=True)
        loss_d = discriminator_loss(self.D(real), self.D(fake.detach()), self.hp.loss)
        loss_d.backward()
        self.opt_d.step()

        self.D.requires_grad_(False)
        self.opt_g.zero_grad(set_to_none=True)
        loss_g = generator_loss(self.D(fake), self.hp.loss)
        loss_g.backward()
        self.opt_g.step()
        self.D.requires_grad_(True)
        return {"loss_d": loss_d.detach().item(), "loss_g": loss_g.detach().item()}

    @torch.no_grad()
    def sample(self, n: int, rng: torch.Generator) -> torch.Tensor:
        """``n`` images [n, 3, S, S] in [0, 1] from ``z`` ~ N(0, I) drawn from ``rng``."""
        z = torch.randn(n, self.hp.z_dim, generator=rng)
        was_training = self.G.training
        self.G.eval()
        try:
            parts = [self.G(chunk.to(self.device)).cpu() for chunk in z.split(self.sample_chunk)]
        finally:
            self.G.train(was_training)
        out = torch.cat(parts) if parts else torch.empty(0, 3, self.image_size, self.image_size)
        return ((out + 1) / 2).clamp(0, 1)
