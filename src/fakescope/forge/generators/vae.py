"""A convolutional VAE: samples are decoder means of latents drawn from N(0, I).

Encoder: strided 4x4 convs down to a 4x4 map, then a linear layer to the mean
and log-variance of a diagonal Gaussian posterior q(z|x) over ``latent_dim``
dimensions. Decoder: linear to a 4x4 map, stride-2 transposed convs back to
the image size, logits per pixel. The loss (per image, averaged over the batch)
is the negative ELBO with weight ``beta`` on the KL term, ramped linearly from 0
over ``kl_warmup`` steps (avoids early posterior collapse):

* ``recon="bce"``: Bernoulli decoder, binary cross-entropy of the pixels in [0, 1];
* ``recon="mse"``: Gaussian decoder with fixed std ``sigma``: sum((x - x')^2) / (2 sigma^2).

VAE samples are characteristically smooth/blurry - the family's own trace.
Works at any power-of-two size >= 16.
"""

from __future__ import annotations

from itertools import pairwise
from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from fakescope.forge.generators.base import GENERATORS, GeneratorParams, ImageGenerator
from fakescope.forge.generators.blocks import (
    BASE_RES,
    ConvEncoder,
    channel_plan,
    transpose_up_block,
    upsampling_stages,
)


class VAEParams(GeneratorParams):
    """VAE settings (Adam at ``lr``, default 1e-3)."""

    lr: float = Field(default=1e-3, gt=0)
    latent_dim: int = Field(default=64, ge=1)
    base_channels: int = Field(default=32, ge=4)
    max_channels: int = Field(default=128, ge=4)
    recon: Literal["bce", "mse"] = "bce"
    sigma: float = Field(default=0.1, gt=0)
    beta: float = Field(default=1.0, ge=0)
    kl_warmup: int = Field(default=0, ge=0)


class ConvDecoder(nn.Module):
    """``z`` [B, latent_dim] -> pixel logits [B, 3, S, S] (sigmoid gives means in [0, 1])."""

    def __init__(self, latent_dim: int, stages: int, base: int, cap: int) -> None:
        super().__init__()
        chans = channel_plan(stages, base, cap)
        self.stem = nn.Sequential(
            nn.Linear(latent_dim, chans[0] * BASE_RES * BASE_RES, bias=False),
            nn.Unflatten(1, (chans[0], BASE_RES, BASE_RES)),
            nn.BatchNorm2d(chans[0]),
            nn.ReLU(),
        )
        self.ups = nn.Sequential(*(transpose_up_block(cin, cout) for cin, cout in pairwise(chans)))
        self.to_rgb = nn.ConvTranspose2d(chans[-1], 3, 4, stride=2, padding=1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.to_rgb(self.ups(self.stem(z)))


@GENERATORS.register("vae")
class VAE(ImageGenerator):
    """Convolutional VAE sampler (family ``vae``): decoder means of z ~ N(0, I)."""

    name = "vae"
    family = "vae"
    Params = VAEParams
    sample_chunk = 256

    def _build(self) -> None:
        """Build the networks and optimizers (params, image_size, seed and device are set)."""
        assert isinstance(self.params, VAEParams)
        self.hp: VAEParams = self.params
        stages = upsampling_stages(self.image_size, "vae generator")
        hp = self.hp
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            self.encoder = ConvEncoder(
                self.image_size,
                2 * hp.latent_dim,
                base=hp.base_channels,
                cap=hp.max_channels,
                norm=True,
            ).to(self.device)
            self.decoder = ConvDecoder(hp.latent_dim, stages, hp.base_channels, hp.max_channels).to(
                self.device
            )
        params_ = [*self.encoder.parameters(), *self.decoder.parameters()]
        self.opt = torch.optim.Adam(params_, lr=hp.lr)

    def modules(self) -> dict[str, nn.Module]:
        return {"encoder": self.encoder, "decoder": self.decoder}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"opt": self.opt}

    def kl_weight(self, step: int) -> float:
        """Weight of the KL term at optimisation ``step`` (0-based): ``beta`` after the warm-up."""
        if self.hp.kl_warmup == 0:
            return self.hp.beta
        return self.hp.beta * min(1.0, step / self.hp.kl_warmup)

    def encode(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``images`` [B, 3, S, S] in [0, 1] -> posterior (mean, log-variance), each [B, latent]."""
        mu, logvar = self.encoder(images * 2 - 1).chunk(2, dim=1)
        return mu, logvar.clamp(-30, 20)

    def loss_terms(
        self, images: torch.Tensor, rng: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-image reconstruction NLL and KL (batch means) for ``images`` [B, 3, S, S] in [0, 1]."""
        mu, logvar = self.encode(images)
        eps = torch.randn(mu.shape, generator=rng).to(self.device)
        logits = self.decoder(mu + eps * torch.exp(0.5 * logvar))
        if self.hp.recon == "bce":
            nll = F.binary_cross_entropy_with_logits(logits, images, reduction="none")
        else:
            nll = (torch.sigmoid(logits) - images).pow(2) / (2 * self.hp.sigma**2)
        kl = 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar)
        return nll.flatten(1).sum(1).mean(), kl.sum(1).mean()

    def train_step(self, batch: torch.Tensor, rng: torch.Generator) -> dict[str, float]:
        """One Adam step on the (warm-up weighted) negative ELBO of ``batch`` [B, 3, S, S]."""
        nll, kl = self.loss_terms(batch, rng)
        loss = nll + self.kl_weight(self.step_) * kl
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        return {
            "loss": loss.detach().item(),
            "recon": nll.detach().item(),
            "kl": kl.detach().item(),
        }

    @torch.no_grad()
    def reconstruct(self, images: torch.Tensor) -> torch.Tensor:
        """Decoded posterior means [B, 3, S, S] in [0, 1] of ``images`` [B, 3, S, S] in [0, 1]."""
        modes = [(m, m.training) for m in self.modules().values()]
        for m, _ in modes:
            m.eval()
        try:
            mu, _ = self.encode(images.to(self.device))
            return torch.sigmoid(self.decoder(mu)).cpu()
        finally:
            for m, was in modes:
                m.train(was)

    @torch.no_grad()
    def sample(self, n: int, rng: torch.Generator) -> torch.Tensor:
        """``n`` images [n, 3, S, S] in [0, 1]: decoder means of ``z`` ~ N(0, I) from ``rng``."""
        z = torch.randn(n, self.hp.latent_dim, generator=rng)
        was_training = self.decoder.training
        self.decoder.eval()
        try:
            parts = [
                torch.sigmoid(self.decoder(c.to(self.device))).cpu()
                for c in z.split(self.sample_chunk)
            ]
        finally:
            self.decoder.train(was_training)
        if not parts:
            return torch.empty(0, 3, self.image_size, self.image_size)
        return torch.cat(parts)
