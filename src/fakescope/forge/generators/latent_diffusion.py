"""Latent diffusion: a DDPM in the latent space of a small convolutional autoencoder.

Training has two phases on one step counter (so :meth:`ImageGenerator.fit`
resumes across the boundary):

1. steps ``[0, ae_steps)``: the autoencoder (4x down-sampling: 32 px -> an
   8x8xC latent, 128 px -> 32x32xC) learns L1 reconstruction of the reals;
2. at the first diffusion step the autoencoder is frozen, and the per-channel
   mean and standard deviation of the latents of that step's batch are stored
   as buffers (checkpointed with the weights), which scale latents to zero mean
   and unit variance; the remaining steps train a small U-Net DDPM
   (epsilon prediction) on those normalized latents.

Sampling runs DDIM (eta = 0) in latent space from noise drawn with the caller's
generator, un-normalizes and decodes: images [n, 3, H, W] in [0, 1].
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from fakescope.forge.generators.base import GENERATORS, GeneratorParams, ImageGenerator
from fakescope.forge.generators.ddpm import (
    DiffusionSchedule,
    Schedule,
    check_divisible,
    ema_update,
)
from fakescope.forge.generators.unet import UNet, auto_channel_mults

DOWNSAMPLE = 4


def _conv_block(c_in: int, c_out: int, stride: int = 1) -> nn.Sequential:
    """3x3 convolution and SiLU: [B, c_in, H, W] -> [B, c_out, H/stride, W/stride].

    No normalization layer: per-image GroupNorm would erase the global colour
    cast, which an autoencoder without skip connections then cannot restore
    (measured: greens and reds came back grey-brown).
    """
    conv = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1)
    nn.init.kaiming_normal_(conv.weight, nonlinearity="relu")  # keeps signals alive: fast start
    if conv.bias is not None:
        nn.init.zeros_(conv.bias)
    return nn.Sequential(conv, nn.SiLU())


class ConvAutoencoder(nn.Module):
    """Deterministic autoencoder: [B, 3, H, W] in [-1, 1] <-> latents [B, C, H/4, W/4].

    Buffers ``latent_shift`` / ``latent_scale`` [C] normalize latents to zero
    mean and unit variance once :meth:`calibrate` has run (``calibrated`` = 1).
    """

    latent_shift: torch.Tensor
    latent_scale: torch.Tensor
    calibrated: torch.Tensor

    def __init__(self, channels: int = 16, latent_channels: int = 4) -> None:
        super().__init__()
        c1, c2, c4 = channels, 2 * channels, 4 * channels  # widths at H, H/2, H/4
        self.encoder = nn.Sequential(
            _conv_block(3, c1),
            _conv_block(c1, c2, stride=2),
            _conv_block(c2, c2),
            _conv_block(c2, c4, stride=2),
            _conv_block(c4, c4),
            nn.Conv2d(c4, latent_channels, 3, padding=1),
        )
        self.decoder = nn.Sequential(
            _conv_block(latent_channels, c4),
            _conv_block(c4, c4),
            nn.Upsample(scale_factor=2.0, mode="nearest"),
            _conv_block(c4, c2),
            _conv_block(c2, c2),
            nn.Upsample(scale_factor=2.0, mode="nearest"),
            _conv_block(c2, c1),
            nn.Conv2d(c1, 3, 3, padding=1),
        )
        self.register_buffer("latent_shift", torch.zeros(latent_channels))
        self.register_buffer("latent_scale", torch.ones(latent_channels))
        self.register_buffer("calibrated", torch.zeros((), dtype=torch.int64))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Reconstruction [B, 3, H, W] of ``x`` [B, 3, H, W] in [-1, 1]."""
        out: torch.Tensor = self.decoder(self.encoder(x))
        return out

    @torch.no_grad()
    def calibrate(self, x: torch.Tensor) -> None:
        """Store the per-channel mean and std of the latents of ``x`` [B, 3, H, W] in [-1, 1]."""
        z = self.encoder(x)
        self.latent_shift.copy_(z.mean(dim=(0, 2, 3)))
        self.latent_scale.copy_(z.std(dim=(0, 2, 3)).clamp_min(1e-6))
        self.calibrated.fill_(1)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Normalized latents [B, C, H/4, W/4] of ``x`` [B, 3, H, W] in [-1, 1]."""
        z = self.encoder(x)
        return (z - self.latent_shift[:, None, None]) / self.latent_scale[:, None, None]

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Images [B, 3, 4h, 4w] (about [-1, 1]) from normalized latents ``z`` [B, C, h, w]."""
        z = z * self.latent_scale[:, None, None] + self.latent_shift[:, None, None]
        out: torch.Tensor = self.decoder(z)
        return out


class LatentDiffusionParams(GeneratorParams):
    """Latent-diffusion settings: autoencoder, phase split, latent U-Net, schedule, sampling."""

    batch_size: int = Field(default=32, ge=1)
    lr: float = Field(default=2e-3, gt=0)
    ae_fraction: float = Field(default=0.4, gt=0, lt=1)
    ae_channels: int = Field(default=16, ge=4)  # widths 1x, 2x, 4x at H, H/2, H/4
    latent_channels: int = Field(default=4, ge=1)
    base_channels: int = Field(default=32, ge=8)
    channel_mults: tuple[int, ...] | None = None  # None: auto from the latent size
    attention: bool = True
    schedule: Schedule = "cosine"
    timesteps: int = Field(default=1000, ge=2)
    min_snr_gamma: float | None = Field(default=5.0, gt=0)
    sampling_steps: int = Field(default=50, ge=1)
    start_abar: float = Field(default=4e-3, ge=0, lt=1)  # DDIM starts where abar >= this
    latent_clip: float | None = Field(default=3.0, gt=0)  # bound on x0 in latent std units
    ema_decay: float = Field(default=0.995, ge=0, lt=1)
    sample_batch: int = Field(default=64, ge=1)


@GENERATORS.register("latent_diffusion")
class LatentDiffusionGenerator(ImageGenerator):
    """Autoencoder + latent DDPM sampler (family ``latent_diffusion``); see the module docstring."""

    name = "latent_diffusion"
    family = "latent_diffusion"
    kind = "sampler"
    Params = LatentDiffusionParams
    params: LatentDiffusionParams

    def _build(self) -> None:
        """Build the networks and optimizers (params, image_size, seed and device are set)."""
        p = self.params
        check_divisible(self.image_size, DOWNSAMPLE, "latent_diffusion's autoencoder")
        self.latent_size = self.image_size // DOWNSAMPLE
        mults = p.channel_mults or auto_channel_mults(self.latent_size)
        check_divisible(
            self.image_size, DOWNSAMPLE * 2 ** (len(mults) - 1), "latent_diffusion's U-Net"
        )
        #: Steps of phase 1 (autoencoder); the rest train the latent U-Net.
        self.ae_steps = max(1, round(p.ae_fraction * p.steps)) if p.steps else 0
        self.schedule = DiffusionSchedule(p.timesteps, p.schedule, p.min_snr_gamma)
        torch.manual_seed(self.seed)
        self.ae = ConvAutoencoder(p.ae_channels, p.latent_channels).to(self.device)
        self.net = UNet(p.latent_channels, p.base_channels, tuple(mults), p.attention)
        self.net = self.net.to(self.device)
        self.ema = copy.deepcopy(self.net).requires_grad_(False)
        self.ae_opt = torch.optim.Adam(self.ae.parameters(), lr=p.lr)
        self.opt = torch.optim.Adam(self.net.parameters(), lr=p.lr)

    def modules(self) -> dict[str, nn.Module]:
        return {"ae": self.ae, "net": self.net, "ema": self.ema}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"ae_opt": self.ae_opt, "opt": self.opt}

    @property
    def in_autoencoder_phase(self) -> bool:
        """True while the next step trains the autoencoder (phase 1)."""
        return not bool(self.ae.calibrated) and self.step_ < self.ae_steps

    def train_step(self, batch: torch.Tensor, rng: torch.Generator) -> dict[str, float]:
        """One step on ``batch`` [B, 3, H, W] in [0, 1]: ``{"recon": l1}`` or ``{"loss": mse}``."""
        x = batch * 2 - 1
        if self.in_autoencoder_phase:
            loss = F.l1_loss(self.ae(x), x)
            self.ae_opt.zero_grad(set_to_none=True)
            loss.backward()
            self.ae_opt.step()
            return {"recon": loss.item()}
        if not bool(self.ae.calibrated):
            self.ae.calibrate(x)  # once, at the first diffusion step; the AE is frozen from here
        with torch.no_grad():
            z = self.ae.encode(x)
        loss = self.schedule.loss(self.net, z, rng)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        ema_update(self.ema, self.net, self.params.ema_decay, max(0, self.step_ - self.ae_steps))
        return {"loss": loss.item()}

    @torch.no_grad()
    def reconstruct(self, images: torch.Tensor) -> torch.Tensor:
        """Autoencoder round trip [N, 3, H, W] in [0, 1] of ``images`` (a diagnostic)."""
        x = images.to(self.device) * 2 - 1
        return ((self.ae(x) + 1) / 2).clamp(0, 1).cpu()

    @torch.no_grad()
    def sample(self, n: int, rng: torch.Generator) -> torch.Tensor:
        """``n`` images [n, 3, H, W] in [0, 1]: DDIM in latent space from ``rng`` noise, decoded."""
        p, s = self.params, self.latent_size
        out = []
        for start in range(0, n, p.sample_batch):
            m = min(p.sample_batch, n - start)
            noise = torch.randn(m, p.latent_channels, s, s, generator=rng).to(self.device)
            z = self.schedule.ddim_sample(
                self.ema, noise, p.sampling_steps, clip=p.latent_clip, start_abar=p.start_abar
            )
            out.append(((self.ae.decode(z) + 1) / 2).clamp(0, 1).cpu())
        size = self.image_size
        return torch.cat(out) if out else torch.zeros(0, 3, size, size)
