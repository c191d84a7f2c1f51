"""Small convolutional autoencoders of attention maps (S1: the ViT's residual for OOD scoring).

Input and output: maps [B, 1, S, S] (S divisible by 4). The ``vit`` detector feeds its
CLS attention maps scaled so that a uniform map is 1 everywhere (see
:mod:`fakescope.detectors.vit_attention`); the reconstruction error
(reconstruction - map)^2 is high for maps unlike the training ones.

* :class:`AttentionAE`: encoder Conv(1->c, s2)-ReLU-Conv(c->2c, s2)-ReLU -> Linear to a
  ``latent``-dim code; decoder Linear -> ConvTranspose(2c->c, s2)-ReLU-ConvTranspose(c->1, s2).
* :class:`AttentionVAE`: the same with a Gaussian code (mu, log-variance); training adds
  ``beta`` * KL(q(z|x) || N(0, I)); at inference the reconstruction decodes mu
  (deterministic).

:func:`train_map_autoencoder` trains either with MSE (+ KL), Adam, seeded batches.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from fakescope.errors import ConfigError

AEKind = Literal["ae", "vae"]


class AttentionAE(nn.Module):
    """Deterministic conv autoencoder: maps [B, 1, S, S] -> reconstructions [B, 1, S, S]."""

    variational = False

    def __init__(self, size: int, latent: int = 16, width: int = 16) -> None:
        super().__init__()
        if size % 4 or size < 4:
            raise ConfigError(f"attention autoencoder map size must be a multiple of 4, got {size}")
        self.size = size
        self.side = size // 4
        flat = 2 * width * self.side * self.side
        self.encoder = nn.Sequential(
            nn.Conv2d(1, width, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.Conv2d(width, 2 * width, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.Flatten(),
        )
        self.to_code = nn.Linear(flat, latent * (2 if self.variational else 1))
        self.from_code = nn.Linear(latent, flat)
        self.decoder = nn.Sequential(
            nn.Unflatten(1, (2 * width, self.side, self.side)),
            nn.ReLU(),
            nn.ConvTranspose2d(2 * width, width, 4, stride=2, padding=1),
            nn.ReLU(),
            nn.ConvTranspose2d(width, 1, 4, stride=2, padding=1),
        )
        self.latent = latent

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor | None]:
        """``(code [B, latent], log-variance [B, latent] or None)`` of maps ``x`` [B, 1, S, S]."""
        h = self.to_code(self.encoder(x))
        if not self.variational:
            return h, None
        mu, logvar = h.chunk(2, dim=1)
        return mu, logvar.clamp(-10.0, 10.0)

    def decode(self, z: Tensor) -> Tensor:
        """Maps [B, 1, S, S] from codes ``z`` [B, latent]."""
        out: Tensor = self.decoder(self.from_code(z))
        return out

    def forward(self, x: Tensor) -> Tensor:
        """Reconstruction [B, 1, S, S] (the VAE decodes the mean code)."""
        return self.decode(self.encode(x)[0])

    def loss(self, x: Tensor, beta: float = 1.0) -> Tensor:
        """Training loss of a batch ``x`` [B, 1, S, S]: MSE per pixel (+ beta * KL per pixel, VAE)."""
        code, logvar = self.encode(x)
        if logvar is None:
            return F.mse_loss(self.decode(code), x)
        z = code + torch.randn_like(code) * torch.exp(0.5 * logvar)
        recon = F.mse_loss(self.decode(z), x)
        kl = -0.5 * torch.mean(torch.sum(1 + logvar - code.pow(2) - logvar.exp(), dim=1))
        return recon + beta * kl / x[0].numel()


class AttentionVAE(AttentionAE):
    """Variational version of :class:`AttentionAE` (Gaussian code; see the module docstring)."""

    variational = True


def create_map_autoencoder(
    kind: AEKind, size: int, latent: int = 16, width: int = 16
) -> AttentionAE:
    """A new ``"ae"`` or ``"vae"`` for maps of side ``size``."""
    if kind == "ae":
        return AttentionAE(size, latent, width)
    if kind == "vae":
        return AttentionVAE(size, latent, width)
    raise ConfigError(f"unknown attention autoencoder {kind!r}; choose ae or vae")


def train_map_autoencoder(
    model: AttentionAE,
    maps: Tensor,
    *,
    epochs: int = 30,
    batch_size: int = 64,
    lr: float = 1e-3,
    beta: float = 1.0,
    seed: int = 0,
) -> list[float]:
    """Train ``model`` on ``maps`` [N, 1, S, S] (Adam, shuffled batches seeded by ``seed``).

    Returns the mean training loss per epoch; leaves the model in eval mode.
    """
    if maps.ndim != 4 or maps.shape[1] != 1 or len(maps) == 0:
        raise ConfigError(f"attention autoencoder needs maps [N, 1, S, S], got {tuple(maps.shape)}")
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    history: list[float] = []
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(maps), generator=g)
        total = 0.0
        for start in range(0, len(maps), batch_size):
            batch = maps[order[start : start + batch_size]]
            loss = model.loss(batch, beta)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(batch)
        history.append(total / len(maps))
    model.eval()
    return history


@torch.inference_mode()
def reconstruction_residual(model: AttentionAE, maps: Tensor) -> Tensor:
    """(reconstruction - map)^2 [N, 1, S, S] of ``maps`` [N, 1, S, S] (higher = less familiar)."""
    model.eval()
    return (model(maps) - maps).pow(2)
