"""Convolutional VAE: ELBO training, KL warm-up, samples decoded from N(0, I)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from fakescope.errors import ConfigError
from fakescope.forge.generators.catalog import GENERATORS
from fakescope.forge.generators.vae import VAE

TINY = {"batch_size": 8, "base_channels": 8, "max_channels": 16, "latent_dim": 8}


def _images(size: int = 16, n: int = 16) -> torch.Tensor:
    """Smooth toy images: a random colour per image plus a horizontal ramp."""
    gen = torch.Generator().manual_seed(3)
    colour = torch.rand(n, 3, 1, 1, generator=gen) * 0.6
    ramp = torch.linspace(0, 0.4, size)[None, None, None, :]
    return (colour + ramp).expand(n, 3, size, size).contiguous()


def _sample(g: VAE, n: int = 4) -> torch.Tensor:
    return g.sample(n, torch.Generator().manual_seed(7))


def _elbo(g: VAE, images: torch.Tensor) -> float:
    for m in g.modules().values():
        m.eval()
    with torch.no_grad():
        nll, kl = g.loss_terms(images, torch.Generator().manual_seed(0))
    return float(nll + kl)


def test_registered_as_vae() -> None:
    assert GENERATORS.get("vae") is VAE and VAE.family == "vae" and VAE.kind == "sampler"


def test_same_seed_same_samples_in_range(tmp_path: Path) -> None:
    a = VAE({**TINY, "steps": 3}, image_size=16, seed=2)
    b = VAE({**TINY, "steps": 3}, image_size=16, seed=2)
    a.fit(_images(), tmp_path / "a")
    b.fit(_images(), tmp_path / "b")
    out = _sample(a)
    assert out.shape == (4, 3, 16, 16)
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0
    torch.testing.assert_close(out, _sample(b), rtol=0, atol=0)
    assert not torch.equal(out, _sample(VAE(TINY, image_size=16, seed=3)))


@pytest.mark.parametrize("recon", ["bce", "mse"])
def test_training_lowers_the_negative_elbo(tmp_path: Path, recon: str) -> None:
    g = VAE({**TINY, "steps": 40, "lr": 3e-3, "recon": recon}, image_size=16)
    x = _images()
    elbo_before = _elbo(g, x)
    err_before = float((g.reconstruct(x) - x).abs().mean())
    g.fit(x, tmp_path)
    rec = g.reconstruct(x)
    assert rec.shape == x.shape
    assert _elbo(g, x) < elbo_before
    assert float((rec - x).abs().mean()) < 0.8 * err_before  # reconstructions follow the input


def test_kl_warmup_ramps_linearly() -> None:
    g = VAE({"beta": 2.0, "kl_warmup": 10}, image_size=16)
    assert [g.kl_weight(s) for s in (0, 5, 10, 50)] == [0.0, 1.0, 2.0, 2.0]
    assert VAE({"beta": 0.5}, image_size=16).kl_weight(0) == 0.5


def test_sample_at_128_px_and_bad_size() -> None:
    g = VAE(TINY, image_size=128)
    assert g.sample(2, torch.Generator()).shape == (2, 3, 128, 128)
    with pytest.raises(ConfigError, match="power of two >= 16"):
        VAE(TINY, image_size=96)
    with pytest.raises(ConfigError, match="'recon'"):
        VAE({"recon": "l1"}, image_size=16)
