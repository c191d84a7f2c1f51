"""A small time-conditioned U-Net: the noise predictor of the diffusion generators.

Shapes: ``UNet(x, t)`` takes ``x`` [B, C, H, W] (H, W divisible by
``2 ** (levels - 1)``) and integer or float timesteps ``t`` [B], and returns a
tensor shaped like ``x`` (the predicted noise). Each resolution level holds one
residual block (GroupNorm, SiLU, 3x3 convolutions, an additive time embedding);
the lowest level optionally adds one single-head self-attention block.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal embedding [B, dim] of timesteps ``t`` [B] (``dim`` even)."""
    half = dim // 2
    freqs = torch.exp(
        -math.log(10_000.0) * torch.arange(half, dtype=torch.float32, device=t.device) / half
    )
    args = t.float()[:, None] * freqs[None, :]
    return torch.cat([torch.sin(args), torch.cos(args)], dim=1)


def zero_init(conv: nn.Conv2d) -> nn.Conv2d:
    """Zero a convolution's weight and bias (a residual branch then starts as the identity)."""
    nn.init.zeros_(conv.weight)
    if conv.bias is not None:
        nn.init.zeros_(conv.bias)
    return conv


def group_count(channels: int, wanted: int = 8) -> int:
    """The largest group count <= ``wanted`` that divides ``channels``."""
    return next(g for g in range(min(wanted, channels), 0, -1) if channels % g == 0)


class ResBlock(nn.Module):
    """Residual block [B, c_in, H, W] -> [B, c_out, H, W], conditioned on an embedding [B, E]."""

    def __init__(self, c_in: int, c_out: int, emb_dim: int) -> None:
        super().__init__()
        self.norm1 = nn.GroupNorm(group_count(c_in), c_in)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.emb = nn.Linear(emb_dim, c_out)
        self.norm2 = nn.GroupNorm(group_count(c_out), c_out)
        self.conv2 = zero_init(nn.Conv2d(c_out, c_out, 3, padding=1))  # starts as the identity
        self.skip: nn.Module = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.emb(emb)[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        return self.skip(x) + h


class AttentionBlock(nn.Module):
    """Single-head self-attention over the H*W positions of [B, C, H, W], residual."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.norm = nn.GroupNorm(group_count(channels), channels)
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)
        self.out = zero_init(nn.Conv2d(channels, channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        q, k, v = self.qkv(self.norm(x)).reshape(b, 3, c, h * w).unbind(1)
        attn = torch.softmax(torch.einsum("bci,bcj->bij", q, k) / math.sqrt(c), dim=-1)
        y = torch.einsum("bij,bcj->bci", attn, v).reshape(b, c, h, w)
        return x + self.out(y)


def auto_channel_mults(size: int, lowest: int = 8) -> tuple[int, ...]:
    """Channel multipliers for a ``size`` x ``size`` input: halve until <= ``lowest``, 2-4 levels.

    32 -> (1, 2, 2) (32, 16, 8 px); 8 -> (1, 2); 128 -> (1, 1, 2, 2) (lowest 16 px).
    """
    levels = 1
    while size > lowest and levels < 4:
        size //= 2
        levels += 1
    levels = max(levels, 2)
    return tuple(1 if i < max(1, levels - 2) else 2 for i in range(levels))


class UNet(nn.Module):
    """Noise predictor: ``forward(x [B, C, H, W], t [B]) -> [B, C, H, W]``.

    ``channel_mults`` gives one level per entry (channels ``base * mult``);
    ``attention`` adds a self-attention block at the lowest resolution.
    """

    def __init__(
        self,
        in_channels: int = 3,
        base: int = 32,
        channel_mults: tuple[int, ...] = (1, 2, 2),
        attention: bool = True,
    ) -> None:
        super().__init__()
        if len(channel_mults) < 2:
            raise ValueError("a U-Net needs at least 2 resolution levels")
        self.levels = len(channel_mults)
        emb_dim = 4 * base
        self.base = base
        self.time_mlp = nn.Sequential(
            nn.Linear(base, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim)
        )
        chans = [base * m for m in channel_mults]
        self.stem = nn.Conv2d(in_channels, chans[0], 3, padding=1)
        self.down = nn.ModuleList()
        self.downsample = nn.ModuleList()
        prev = chans[0]
        for i, ch in enumerate(chans):
            self.down.append(ResBlock(prev, ch, emb_dim))
            prev = ch
            if i < self.levels - 1:
                self.downsample.append(nn.Conv2d(ch, ch, 3, stride=2, padding=1))
        self.mid = ResBlock(prev, prev, emb_dim)
        self.attn: nn.Module = AttentionBlock(prev) if attention else nn.Identity()
        self.up = nn.ModuleList()
        self.upsample = nn.ModuleList()
        for i in reversed(range(self.levels)):
            self.up.append(ResBlock(prev + chans[i], chans[i], emb_dim))
            prev = chans[i]
            if i > 0:
                self.upsample.append(nn.Conv2d(chans[i], chans[i - 1], 3, padding=1))
                prev = chans[i - 1]
        self.head = nn.Sequential(
            nn.GroupNorm(group_count(chans[0]), chans[0]),
            nn.SiLU(),
            zero_init(nn.Conv2d(chans[0], in_channels, 3, padding=1)),
        )

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        emb = self.time_mlp(timestep_embedding(t, self.base))
        h = self.stem(x)
        skips: list[torch.Tensor] = []
        for i, block in enumerate(self.down):
            h = block(h, emb)
            skips.append(h)
            if i < self.levels - 1:
                h = self.downsample[i](h)
        h = self.attn(self.mid(h, emb))
        for j, block in enumerate(self.up):
            h = block(torch.cat([h, skips.pop()], dim=1), emb)
            if j < self.levels - 1:
                h = self.upsample[j](F.interpolate(h, scale_factor=2.0, mode="nearest"))
        out: torch.Tensor = self.head(h)
        return out
