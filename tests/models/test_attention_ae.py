"""Attention-map autoencoders: they learn the maps they are trained on, not arbitrary maps."""

from __future__ import annotations

import pytest
import torch

from fakescope.errors import ConfigError
from fakescope.models.attention_ae import (
    AttentionAE,
    AttentionVAE,
    create_map_autoencoder,
    reconstruction_residual,
    train_map_autoencoder,
)

SIZE = 16


def blobs(n: int, seed: int) -> torch.Tensor:
    """``n`` maps [n, 1, S, S]: one Gaussian bump (sigma 2.5 px) at a random place, mean 1."""
    g = torch.Generator().manual_seed(seed)
    centres = torch.rand(n, 2, generator=g) * (SIZE - 6) + 3
    yy, xx = torch.meshgrid(torch.arange(float(SIZE)), torch.arange(float(SIZE)), indexing="ij")
    d2 = (yy[None] - centres[:, 0, None, None]) ** 2 + (xx[None] - centres[:, 1, None, None]) ** 2
    maps = torch.exp(-d2 / (2 * 2.5**2))
    return (maps / maps.mean(dim=(1, 2), keepdim=True))[:, None]


def noise(n: int, seed: int) -> torch.Tensor:
    """``n`` random maps [n, 1, S, S] (uniform noise, mean 1): unlike any blob."""
    g = torch.Generator().manual_seed(seed)
    maps = torch.rand(n, 1, SIZE, SIZE, generator=g)
    return maps / maps.mean(dim=(2, 3), keepdim=True)


@pytest.mark.parametrize("kind", ["ae", "vae"])
def test_reconstructs_training_like_maps_better_than_random_maps(kind: str) -> None:
    torch.manual_seed(0)
    model = create_map_autoencoder(kind, SIZE, latent=8, width=8)  # type: ignore[arg-type]
    history = train_map_autoencoder(
        model, blobs(256, 0), epochs=40, batch_size=32, lr=3e-3, beta=0.01, seed=0
    )
    assert history[-1] < history[0]
    seen_like = reconstruction_residual(model, blobs(64, 1)).mean(dim=(1, 2, 3))
    random = reconstruction_residual(model, noise(64, 2)).mean(dim=(1, 2, 3))
    # held-out blobs are reconstructed far better than random maps, image by image
    assert seen_like.median() * 3 < random.median()
    assert (seen_like < random.median()).float().mean() > 0.9


def test_shapes_kinds_and_determinism() -> None:
    assert isinstance(create_map_autoencoder("ae", 8), AttentionAE)
    vae = create_map_autoencoder("vae", 8)
    assert isinstance(vae, AttentionVAE)
    x = noise(4, 0)[:, :, :8, :8]
    assert vae(x).shape == (4, 1, 8, 8)
    vae.eval()
    assert torch.equal(vae(x), vae(x))  # inference decodes the mean code
    assert reconstruction_residual(vae, x).min() >= 0


def test_bad_sizes_are_one_line_errors() -> None:
    with pytest.raises(ConfigError, match="multiple of 4"):
        AttentionAE(10)
    with pytest.raises(ConfigError, match="ae or vae"):
        create_map_autoencoder("pca", 8)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"\[N, 1, S, S\]"):
        train_map_autoencoder(AttentionAE(8), torch.zeros(3, 8, 8))
