"""Pixel-space diffusion: a small U-Net DDPM (epsilon prediction), sampled with DDIM.

Training (Ho et al. 2020): images are scaled to [-1, 1], a timestep ``t`` in
[0, T) and Gaussian noise are drawn from the step's generator, and the U-Net
learns to predict the noise from ``sqrt(abar_t) x + sqrt(1 - abar_t) eps``
(MSE, Min-SNR weighted by default). Sampling is deterministic DDIM (eta = 0)
over ``sampling_steps`` evenly spaced timesteps, from noise drawn with the
caller's generator, with an exponential moving average of the weights.

CPU-budget choices (measured on CIFAR-10, see the notes in each Params field):

* ``patch`` (default 2) runs the U-Net on pixel-unshuffled input
  [B, 3 p^2, H/p, W/p]: the diffusion stays in pixel space, but the network
  costs about p^2 times less (a DiT-style patch size). At a one-minute budget
  this is the difference between coloured noise and coloured blobs; it leaves
  a faint p x p periodic texture, a generator trace like any other. The first
  U-Net level needs at least 3 p^2 channels (patch 4 with 32 channels stayed
  pure noise on 128 px faces: the noise of 48 values cannot pass 32 channels).
* ``min_snr_gamma``: nearly clean timesteps stop dominating the loss.
* ``start_abar``: DDIM starts where ``abar >= 4e-3`` instead of at the cosine
  schedule's last step (``abar`` ~ 1e-9), see :meth:`DiffusionSchedule.ddim_sample`.
"""

from __future__ import annotations

import copy
import math
from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from fakescope.errors import ConfigError
from fakescope.forge.generators.base import GENERATORS, GeneratorParams, ImageGenerator
from fakescope.forge.generators.unet import UNet, auto_channel_mults

Schedule = Literal["linear", "cosine"]


class DiffusionSchedule:
    """Noise schedule of ``timesteps`` steps; ``abar`` [T] is the cumulative signal fraction.

    ``min_snr_gamma`` weights each sample's epsilon MSE by ``min(SNR_t, gamma) / SNR_t``
    (Min-SNR, Hang et al. 2023): nearly-clean timesteps, whose noise cannot be
    predicted anyway, stop dominating the gradient, which speeds up short
    trainings a lot. None gives the plain (uniform) DDPM loss.
    """

    def __init__(
        self,
        timesteps: int = 1000,
        kind: Schedule = "cosine",
        min_snr_gamma: float | None = None,
    ) -> None:
        self.timesteps = timesteps
        if kind == "linear":
            betas = torch.linspace(1e-4, 0.02, timesteps, dtype=torch.float64)
            abar = torch.cumprod(1.0 - betas, dim=0)
        else:  # cosine (Nichol & Dhariwal 2021), betas clipped at 0.999
            s = 0.008
            steps = torch.arange(timesteps + 1, dtype=torch.float64) / timesteps
            f = torch.cos((steps + s) / (1 + s) * math.pi / 2) ** 2
            betas = (1 - f[1:] / f[:-1]).clamp(max=0.999)
            abar = torch.cumprod(1.0 - betas, dim=0)
        self.abar = abar.float()
        snr = abar / (1 - abar)
        weight = snr.clamp(max=min_snr_gamma) / snr if min_snr_gamma else torch.ones_like(snr)
        self.weight = weight.float()

    def loss(self, net: nn.Module, x0: torch.Tensor, rng: torch.Generator) -> torch.Tensor:
        """Weighted epsilon-prediction MSE of ``net`` on clean data ``x0`` [B, C, H, W].

        Timesteps and noise come from ``rng``; the weights average to at most 1.
        """
        t = torch.randint(self.timesteps, (len(x0),), generator=rng)
        noise = torch.randn(x0.shape, generator=rng).to(x0.device)
        ab = self.abar[t].to(x0.device)[:, None, None, None]
        xt = ab.sqrt() * x0 + (1 - ab).sqrt() * noise
        mse = (net(xt, t.to(x0.device)) - noise).pow(2).mean(dim=(1, 2, 3))
        return (self.weight[t].to(x0.device) * mse).mean()

    def sampling_timesteps(self, steps: int, start_abar: float = 0.0) -> list[int]:
        """``steps`` timesteps evenly spaced down to 0, from the last with ``abar >= start_abar``."""
        allowed = (self.abar >= start_abar).nonzero()
        t_max = int(allowed.max()) if len(allowed) else 0
        n = max(1, min(steps, t_max + 1))
        return [int(t) for t in torch.linspace(t_max, 0, n).round().long()]

    @torch.no_grad()
    def ddim_sample(
        self,
        net: nn.Module,
        noise: torch.Tensor,
        steps: int,
        clip: float | None = 1.0,
        start_abar: float = 0.0,
    ) -> torch.Tensor:
        """Deterministic DDIM (eta = 0) from ``noise`` [B, C, H, W] to clean data of the same shape.

        ``clip`` bounds the predicted clean data at every step (1.0 for pixels in
        [-1, 1], a few standard deviations for unit-variance latents; None: no bound).
        ``start_abar`` > 0 starts from the noisiest timestep whose ``abar`` reaches it
        (pure noise there carries ``sqrt(abar)`` of signal, negligible for ~4e-3, Stable
        Diffusion's own final ``abar``): from the cosine schedule's last step (``abar`` ~
        1e-9) the first x0 estimate multiplies the noise-prediction error by ~2e4,
        which a briefly trained network turns into saturated blotches.
        """
        ts = self.sampling_timesteps(steps, start_abar)
        x = noise
        for i, t in enumerate(ts):
            ab = float(self.abar[t])
            ab_prev = float(self.abar[ts[i + 1]]) if i + 1 < len(ts) else 1.0
            eps = net(x, torch.full((len(x),), t, device=x.device))
            x0 = (x - math.sqrt(1 - ab) * eps) / math.sqrt(ab)
            if clip is not None:
                x0 = x0.clamp(-clip, clip)
                eps = (x - math.sqrt(ab) * x0) / math.sqrt(1 - ab)
            x = math.sqrt(ab_prev) * x0 + math.sqrt(1 - ab_prev) * eps
        return x


class PatchUNet(nn.Module):
    """A :class:`UNet` on pixel-unshuffled input: [B, C, H, W] -> [B, C, H, W], ``patch`` | H, W."""

    def __init__(
        self,
        channels: int,
        patch: int,
        base: int,
        channel_mults: tuple[int, ...],
        attention: bool,
    ) -> None:
        super().__init__()
        self.patch = patch
        self.unet = UNet(channels * patch * patch, base, channel_mults, attention)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        if self.patch == 1:
            return self.unet(x, t)
        y = self.unet(F.pixel_unshuffle(x, self.patch), t)
        return F.pixel_shuffle(y, self.patch)


@torch.no_grad()
def ema_update(ema: nn.Module, model: nn.Module, decay: float, step: int) -> None:
    """``ema <- d ema + (1 - d) model``, warmed up: ``d = min(decay, (1 + step) / (10 + step))``."""
    d = min(decay, (1 + step) / (10 + step))
    for e, p in zip(ema.parameters(), model.parameters(), strict=True):
        e.mul_(d).add_(p.detach(), alpha=1 - d)


def check_divisible(size: int, factor: int, what: str) -> None:
    """Raise a one-line ConfigError unless ``factor`` divides ``size``."""
    if size % factor:
        raise ConfigError(
            f"{what} needs an image size divisible by {factor}, got {size}; "
            "choose another image_size or fewer levels / a smaller patch"
        )


class DDPMParams(GeneratorParams):
    """DDPM settings: U-Net size, noise schedule, EMA and DDIM sampling."""

    batch_size: int = Field(default=32, ge=1)
    lr: float = Field(default=2e-3, gt=0)
    base_channels: int = Field(default=32, ge=8)
    channel_mults: tuple[int, ...] | None = None  # None: auto from the (patched) size
    attention: bool = True
    patch: int = Field(default=2, ge=1, le=8)  # needs base_channels >= 3 * patch**2
    schedule: Schedule = "cosine"
    timesteps: int = Field(default=1000, ge=2)
    min_snr_gamma: float | None = Field(default=5.0, gt=0)
    sampling_steps: int = Field(default=50, ge=1)
    start_abar: float = Field(default=4e-3, ge=0, lt=1)  # DDIM starts where abar >= this
    ema_decay: float = Field(default=0.995, ge=0, lt=1)
    sample_batch: int = Field(default=64, ge=1)


@GENERATORS.register("ddpm")
class DDPMGenerator(ImageGenerator):
    """Pixel-space DDPM sampler (family ``diffusion``); see the module docstring."""

    name = "ddpm"
    family = "diffusion"
    kind = "sampler"
    Params = DDPMParams
    params: DDPMParams

    def _build(self) -> None:
        """Build the networks and optimizers (params, image_size, seed and device are set)."""
        p = self.params
        self.patch = p.patch
        if p.base_channels < 3 * p.patch**2:
            raise ConfigError(
                f"ddpm's base_channels ({p.base_channels}) must be at least 3 * patch**2 "
                f"({3 * p.patch**2}) to carry per-pixel noise; raise base_channels or lower patch"
            )
        check_divisible(self.image_size, self.patch, "ddpm's patch")
        mults = p.channel_mults or auto_channel_mults(self.image_size // self.patch)
        check_divisible(self.image_size, self.patch * 2 ** (len(mults) - 1), "ddpm's U-Net")
        self.schedule = DiffusionSchedule(p.timesteps, p.schedule, p.min_snr_gamma)
        torch.manual_seed(self.seed)
        self.net = PatchUNet(3, self.patch, p.base_channels, tuple(mults), p.attention)
        self.net = self.net.to(self.device)
        self.ema = copy.deepcopy(self.net).requires_grad_(False)
        self.opt = torch.optim.Adam(self.net.parameters(), lr=p.lr)

    def modules(self) -> dict[str, nn.Module]:
        return {"net": self.net, "ema": self.ema}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"opt": self.opt}

    def train_step(self, batch: torch.Tensor, rng: torch.Generator) -> dict[str, float]:
        """One denoising step on ``batch`` [B, 3, H, W] in [0, 1]; returns ``{"loss": mse}``."""
        loss = self.schedule.loss(self.net, batch * 2 - 1, rng)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        ema_update(self.ema, self.net, self.params.ema_decay, self.step_)
        return {"loss": loss.item()}

    def sample(self, n: int, rng: torch.Generator) -> torch.Tensor:
        """``n`` images [n, 3, H, W] in [0, 1] by DDIM from noise drawn with ``rng`` (on CPU)."""
        size = self.image_size
        out = []
        for start in range(0, n, self.params.sample_batch):
            m = min(self.params.sample_batch, n - start)
            noise = torch.randn(m, 3, size, size, generator=rng).to(self.device)
            x = self.schedule.ddim_sample(
                self.ema,
                noise,
                self.params.sampling_steps,
                clip=1.0,
                start_abar=self.params.start_abar,
            )
            out.append(((x + 1) / 2).clamp(0, 1).cpu())
        return torch.cat(out) if out else torch.zeros(0, 3, size, size)
