"""``realnvp``: a small RealNVP / Glow-style normalizing flow (family ``flow``, a sampler).

Pipeline for an image ``x`` [B, 3, H, W] in [0, 1] (pixel values k/255):

1. **dequantize**: ``y = (255 x + u) / 256`` with ``u ~ U[0, 1)``, so ``y`` has a density on [0, 1]^D;
2. **logit**: ``v = logit(a + (1 - 2a) y)`` with ``a = 0.05`` (RealNVP's CIFAR setting);
3. **multi-scale flow** (Dinh et al. 2017): per scale, alternating *checkerboard*
   affine couplings, a *squeeze* (2x2 space-to-depth), alternating *channel-wise*
   affine couplings, then half the channels are factored out as latents
   (standardised by a Glow-style learned prior conditioned on the kept half, so
   sampled fine detail follows the coarse content); the last scale has
   checkerboard couplings only. Each coupling's ``s`` and ``t``
   come from a small conv net (3x3, 1x1, zero-initialised 3x3), and the log-scale
   is bounded as ``s = scale * tanh(raw)``. Optional ActNorm (Glow) before every
   coupling, initialised from the first training batch.

Training maximises the exact log-likelihood and reports it as **bits per dimension**
of the discrete 8-bit image (``bpd``). Sampling draws every latent from
``N(0, T^2 I)`` at temperature ``T`` (``temperature``, default 0.7), inverts the
flow and the logit, and clamps to [0, 1].
"""

from __future__ import annotations

import math
from typing import Any, cast

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from fakescope.errors import ConfigError
from fakescope.forge.generators.base import GENERATORS, GeneratorParams, ImageGenerator

#: Logit-transform margin: pixel values are mapped into [a, 1 - a] before the logit.
LOGIT_ALPHA = 0.05
#: Images per chunk when sampling (bounds memory at 128 px).
SAMPLE_CHUNK = 64

LogDet = torch.Tensor  # [B]: log |det J| per sample


def zero_conv(conv: nn.Conv2d) -> nn.Conv2d:
    """Zero a conv's weight and bias in place (an untrained coupling or prior is then the identity)."""
    nn.init.zeros_(conv.weight)
    if conv.bias is not None:
        nn.init.zeros_(conv.bias)
    return conv


class ActNorm(nn.Module):
    """Per-channel affine ``y = (x + loc) * exp(log_scale)``; data-initialised on the first training batch."""

    initialized: torch.Tensor

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.loc = nn.Parameter(torch.zeros(1, channels, 1, 1))
        self.log_scale = nn.Parameter(torch.zeros(1, channels, 1, 1))
        self.register_buffer("initialized", torch.zeros((), dtype=torch.uint8))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, LogDet]:
        """``x`` [B, C, H, W] -> (``y`` same shape, log-det [B])."""
        if self.training and not bool(self.initialized):
            with torch.no_grad():
                self.loc.copy_(-x.mean(dim=(0, 2, 3), keepdim=True))
                std = x.std(dim=(0, 2, 3), keepdim=True)
                self.log_scale.copy_(-torch.log(std + 1e-6))
                self.initialized.fill_(1)
        y = (x + self.loc) * torch.exp(self.log_scale)
        logdet = self.log_scale.sum() * x.shape[2] * x.shape[3]
        return y, logdet.expand(x.shape[0])

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        """Exact inverse of :meth:`forward`."""
        return y * torch.exp(-self.log_scale) - self.loc


class _STNet(nn.Module):
    """Glow's coupling net: 3x3 conv, ReLU, 1x1 conv, ReLU, zero-initialised 3x3 conv -> (raw s, t)."""

    def __init__(self, c_in: int, hidden: int, c_out: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(c_in, hidden, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(hidden, hidden, 1),
            nn.ReLU(),
        )
        self.head = zero_conv(nn.Conv2d(hidden, 2 * c_out, 3, padding=1))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``x`` [B, c_in, H, W] -> (raw log-scale, shift), each [B, c_out, H, W]."""
        raw_s, t = self.head(self.body(x)).chunk(2, dim=1)
        return raw_s, t


class CheckerboardCoupling(nn.Module):
    """Affine coupling on the pixels of one checkerboard colour, conditioned on the other colour."""

    def __init__(self, channels: int, hidden: int, parity: int) -> None:
        super().__init__()
        self.parity = parity
        self.net = _STNet(channels + 1, hidden, channels)
        self.scale = nn.Parameter(torch.ones(1, channels, 1, 1))

    def _mask(self, x: torch.Tensor) -> torch.Tensor:
        """[1, 1, H, W]: 1 on the conditioning (unchanged) pixels, 0 on the transformed ones."""
        h, w = x.shape[2], x.shape[3]
        ii = torch.arange(h, device=x.device)[:, None]
        jj = torch.arange(w, device=x.device)[None, :]
        return ((ii + jj) % 2 == self.parity).to(x.dtype)[None, None]

    def _st(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mask = self._mask(x)
        cond = torch.cat([x * mask, mask.expand(x.shape[0], 1, -1, -1)], dim=1)
        raw_s, t = self.net(cond)
        s = self.scale * torch.tanh(raw_s)
        return s * (1 - mask), t * (1 - mask)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, LogDet]:
        """``x`` [B, C, H, W] -> (``y``, log-det [B])."""
        s, t = self._st(x)
        return x * torch.exp(s) + t, s.sum(dim=(1, 2, 3))

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        """Exact inverse: the conditioning pixels pass unchanged, so ``s, t`` are recomputed."""
        s, t = self._st(y)
        return (y - t) * torch.exp(-s)


class ChannelCoupling(nn.Module):
    """Affine coupling on one half of the channels, conditioned on the other half (``parity`` picks)."""

    def __init__(self, channels: int, hidden: int, parity: int) -> None:
        super().__init__()
        if channels % 2:
            raise ValueError("channel-wise coupling needs an even channel count")
        self.parity = parity
        half = channels // 2
        self.net = _STNet(half, hidden, half)
        self.scale = nn.Parameter(torch.ones(1, half, 1, 1))

    def _split(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        a, b = x.chunk(2, dim=1)
        return (a, b) if self.parity == 0 else (b, a)

    def _join(self, cond: torch.Tensor, moved: torch.Tensor) -> torch.Tensor:
        return torch.cat([cond, moved] if self.parity == 0 else [moved, cond], dim=1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, LogDet]:
        """``x`` [B, C, H, W] -> (``y``, log-det [B])."""
        cond, moved = self._split(x)
        raw_s, t = self.net(cond)
        s = self.scale * torch.tanh(raw_s)
        return self._join(cond, moved * torch.exp(s) + t), s.sum(dim=(1, 2, 3))

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        """Exact inverse of :meth:`forward`."""
        cond, moved = self._split(y)
        raw_s, t = self.net(cond)
        s = self.scale * torch.tanh(raw_s)
        return self._join(cond, (moved - t) * torch.exp(-s))


class _Squeeze(nn.Module):
    """2x2 space-to-depth [B, C, H, W] -> [B, 4C, H/2, W/2] (a permutation: log-det 0)."""

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, LogDet]:
        return F.pixel_unshuffle(x, 2), x.new_zeros(x.shape[0])

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        return F.pixel_shuffle(y, 2)


class SplitPrior(nn.Module):
    """Glow's learned prior of a factored-out half, written as a bijection.

    ``eps = (out - mu(keep)) * exp(-log_sigma(keep))`` with ``mu, log_sigma`` from a
    zero-initialised 3x3 conv of the kept half (tanh-bounded log-scale), so the
    latents ``eps`` are N(0, I) and fine detail is sampled conditioned on the coarse part.
    """

    def __init__(self, keep_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv = zero_conv(nn.Conv2d(keep_channels, 2 * out_channels, 3, padding=1))
        self.scale = nn.Parameter(torch.full((1, out_channels, 1, 1), 2.0))

    def _stats(self, keep: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, raw = self.conv(keep).chunk(2, dim=1)
        return mu, self.scale * torch.tanh(raw)

    def forward(self, out: torch.Tensor, keep: torch.Tensor) -> tuple[torch.Tensor, LogDet]:
        """(factored half, kept half) -> (``eps`` like ``out``, log-det [B])."""
        mu, log_sigma = self._stats(keep)
        return (out - mu) * torch.exp(-log_sigma), -log_sigma.sum(dim=(1, 2, 3))

    def inverse(self, eps: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        """Exact inverse: the factored half from ``eps`` and the kept half."""
        mu, log_sigma = self._stats(keep)
        return eps * torch.exp(log_sigma) + mu


class MultiScaleFlow(nn.Module):
    """The RealNVP multi-scale architecture on a [B, 3, H, W] logit-space image.

    ``n_scales`` squeeze-and-split scales, each halving the resolution and
    factoring out half of its channels (through a :class:`SplitPrior`), then a
    final checkerboard-only scale.
    ``forward`` returns the latents (one per factored scale plus the final one)
    and the log-det [B]; ``inverse`` maps latents back to the image exactly.
    """

    def __init__(
        self, n_scales: int, hidden: int, couplings: int, actnorm: bool, channels: int = 3
    ) -> None:
        super().__init__()
        self.n_scales = n_scales
        self.scales = nn.ModuleList()
        self.priors = nn.ModuleList()
        c = channels
        for level in range(n_scales + 1):
            steps: list[nn.Module] = []
            n_check = couplings + (1 if level == n_scales else 0)
            for i in range(n_check):
                steps += [ActNorm(c)] if actnorm else []
                steps.append(CheckerboardCoupling(c, hidden, i % 2))
            if level < n_scales:
                steps.append(_Squeeze())
                for i in range(couplings):
                    steps += [ActNorm(4 * c)] if actnorm else []
                    steps.append(ChannelCoupling(4 * c, hidden, i % 2))
                c = 2 * c
                self.priors.append(SplitPrior(c, c))
            self.scales.append(nn.ModuleList(steps))

    def _steps(self, level: int) -> list[Any]:
        """The invertible steps of scale ``level`` (each has ``forward`` and ``inverse``)."""
        return list(cast(nn.ModuleList, self.scales[level]))

    def forward(self, x: torch.Tensor) -> tuple[list[torch.Tensor], LogDet]:
        """``x`` [B, C, H, W] -> (latents, log-det [B])."""
        zs: list[torch.Tensor] = []
        logdet = x.new_zeros(x.shape[0])
        h = x
        for level in range(len(self.scales)):
            for step in self._steps(level):
                h, ld = step(h)
                logdet = logdet + ld
            if level < self.n_scales:
                out, h = h.chunk(2, dim=1)
                eps, ld = self._prior(level)(out, h)
                logdet = logdet + ld
                zs.append(eps)
        zs.append(h)
        return zs, logdet

    def inverse(self, zs: list[torch.Tensor]) -> torch.Tensor:
        """Latents (as returned by :meth:`forward`) -> image [B, C, H, W]."""
        h = zs[-1]
        for level in reversed(range(len(self.scales))):
            if level < self.n_scales:
                h = torch.cat([self._prior(level).inverse(zs[level], h), h], dim=1)
            for step in reversed(self._steps(level)):
                h = step.inverse(h)
        return h

    def _prior(self, level: int) -> SplitPrior:
        return cast(SplitPrior, self.priors[level])

    def latent_shapes(self, size: int, channels: int = 3) -> list[tuple[int, int, int]]:
        """Shapes (C, H, W) of the latents of one ``size`` x ``size`` image."""
        shapes: list[tuple[int, int, int]] = []
        c, s = channels, size
        for _ in range(self.n_scales):
            c, s = 4 * c, s // 2
            shapes.append((c // 2, s, s))
            c = c // 2
        shapes.append((c, s, s))
        return shapes


def to_logit(y: torch.Tensor) -> tuple[torch.Tensor, LogDet]:
    """Dequantized image ``y`` [B, C, H, W] in (0, 1) -> (logit-space image, log-det [B])."""
    p = LOGIT_ALPHA + (1 - 2 * LOGIT_ALPHA) * y
    v = torch.log(p) - torch.log1p(-p)
    logdet = (math.log(1 - 2 * LOGIT_ALPHA) - torch.log(p) - torch.log1p(-p)).sum(dim=(1, 2, 3))
    return v, logdet


def from_logit(v: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`to_logit` (without clamping)."""
    return (torch.sigmoid(v) - LOGIT_ALPHA) / (1 - 2 * LOGIT_ALPHA)


class RealNVPParams(GeneratorParams):
    """RealNVP settings (defaults: ~96k parameters at any image size; ~205k with ``n_scales=3``).

    Small batches and a high learning rate learn fastest per CPU second; ``n_scales=3``
    gives more global structure (needs an image size divisible by 8).
    """

    lr: float = Field(default=2e-3, gt=0)
    batch_size: int = Field(default=16, ge=1)
    n_scales: int = Field(default=2, ge=1, le=5)
    hidden: int = Field(default=32, ge=4)
    couplings: int = Field(default=2, ge=1)
    actnorm: bool = True
    temperature: float = Field(default=0.7, gt=0)
    weight_decay: float = Field(default=5e-5, ge=0)
    grad_clip: float = Field(default=50.0, gt=0)


@GENERATORS.register("realnvp")
class RealNVPGenerator(ImageGenerator):
    """Normalizing flow sampler trained by maximum likelihood (see the module docstring)."""

    name = "realnvp"
    family = "flow"
    kind = "sampler"
    Params = RealNVPParams
    params: RealNVPParams

    def _build(self) -> None:
        """Build the networks and optimizers (params, image_size, seed and device are set)."""
        p = self.params
        if self.image_size % (2**p.n_scales):
            raise ConfigError(
                f"realnvp with n_scales={p.n_scales} needs an image size divisible by "
                f"{2**p.n_scales}, got {self.image_size}; change image_size or n_scales"
            )
        torch.manual_seed(self.seed)
        self.flow = MultiScaleFlow(p.n_scales, p.hidden, p.couplings, p.actnorm).to(self.device)
        self.flow.eval()  # ActNorm initialises on the first *training* batch (fit sets train mode)
        self.opt = torch.optim.Adam(self.flow.parameters(), lr=p.lr, weight_decay=p.weight_decay)

    def modules(self) -> dict[str, nn.Module]:
        return {"flow": self.flow}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"opt": self.opt}

    def log_likelihood(
        self, x: torch.Tensor, rng: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Dequantize ``x`` [B, 3, H, W] in [0, 1] and return (log p [B] in nats, bits/dim [B])."""
        noise = torch.rand(x.shape, generator=rng).to(x.device)
        y = (x * 255.0 + noise) / 256.0
        v, ld_logit = to_logit(y)
        zs, ld_flow = self.flow(v)
        log_pz = sum((-0.5 * (z**2 + math.log(2 * math.pi))).sum(dim=(1, 2, 3)) for z in zs)
        dims = x[0].numel()
        log_py = log_pz + ld_flow + ld_logit  # density of y on [0, 1]^D
        log_px = log_py - dims * math.log(256.0)  # probability of the 8-bit image
        return log_px, -log_px / (dims * math.log(2.0))

    def train_step(self, batch: torch.Tensor, rng: torch.Generator) -> dict[str, float]:
        """One maximum-likelihood step; returns ``{"bpd": bits per dimension}``.

        A batch with a non-finite loss is skipped (no update) and reported as ``nan``.
        """
        _, bpd = self.log_likelihood(batch, rng)
        loss = bpd.mean()
        self.opt.zero_grad(set_to_none=True)
        if not bool(torch.isfinite(loss)):
            return {"bpd": float("nan")}
        loss.backward()
        nn.utils.clip_grad_norm_(self.flow.parameters(), self.params.grad_clip)
        self.opt.step()
        return {"bpd": float(loss.detach())}

    @torch.no_grad()
    def sample(self, n: int, rng: torch.Generator) -> torch.Tensor:
        """``n`` images [n, 3, H, W] in [0, 1]: latents ~ N(0, T^2 I), inverted through the flow."""
        self.flow.eval()
        shapes = self.flow.latent_shapes(self.image_size)
        out: list[torch.Tensor] = []
        for start in range(0, n, SAMPLE_CHUNK):
            b = min(SAMPLE_CHUNK, n - start)
            zs = [
                (torch.randn((b, *shape), generator=rng) * self.params.temperature).to(self.device)
                for shape in shapes
            ]
            y = from_logit(self.flow.inverse(zs))
            out.append(((y * 256.0 - 0.5) / 255.0).clamp(0, 1).cpu())
        return torch.cat(out) if out else torch.zeros(0, 3, self.image_size, self.image_size)
