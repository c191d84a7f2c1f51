"""The pixel-space DDPM generator, its U-Net, noise schedules and DDIM sampler."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from fakescope.errors import ConfigError
from fakescope.forge.generators.catalog import FAMILIES, GENERATORS
from fakescope.forge.generators.ddpm import DDPMGenerator, DiffusionSchedule
from fakescope.forge.generators.unet import UNet, auto_channel_mults, timestep_embedding

TINY = {
    "steps": 3,
    "batch_size": 4,
    "base_channels": 12,
    "sampling_steps": 3,
    "checkpoint_every": 100,
}


def _toy(n: int = 16, size: int = 16) -> torch.Tensor:
    """Smooth colour blobs [n, 3, size, size] in [0, 1] (low-frequency, easy to denoise)."""
    g = torch.Generator().manual_seed(3)
    low = torch.rand(n, 3, 2, 2, generator=g)
    return nn.functional.interpolate(low, size=(size, size), mode="bilinear", align_corners=False)


def test_registered_with_its_family() -> None:
    cls = GENERATORS.get("ddpm")
    assert cls is DDPMGenerator and cls.family == "diffusion" and cls.family in FAMILIES
    assert cls.kind == "sampler"


@pytest.mark.parametrize("patch", [1, 2])
def test_samples_have_shape_range_and_are_seeded(tmp_path: Path, patch: int) -> None:
    params = {**TINY, "patch": patch, "sample_batch": 2}
    a = DDPMGenerator(params, image_size=16, seed=1)
    a.fit(_toy(), tmp_path / "a")
    b = DDPMGenerator(params, image_size=16, seed=1)
    b.fit(_toy(), tmp_path / "b")
    x = a.sample(3, torch.Generator().manual_seed(0))
    assert x.shape == (3, 3, 16, 16) and x.dtype == torch.float32
    assert float(x.min()) >= 0 and float(x.max()) <= 1
    torch.testing.assert_close(x, b.sample(3, torch.Generator().manual_seed(0)), rtol=0, atol=0)
    assert not torch.equal(x, a.sample(3, torch.Generator().manual_seed(1)))


def test_networks_are_built_from_the_seed() -> None:
    a = DDPMGenerator(TINY, image_size=16, seed=0).state_tensors()
    b = DDPMGenerator(TINY, image_size=16, seed=0).state_tensors()
    c = DDPMGenerator(TINY, image_size=16, seed=1).state_tensors()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert any(not torch.equal(a[k], c[k]) for k in a)


def test_training_reduces_the_denoising_loss(tmp_path: Path) -> None:
    params = {**TINY, "steps": 40, "batch_size": 8, "patch": 1, "lr": 3e-3}
    gen = DDPMGenerator(params, image_size=16, seed=0)
    x0 = _toy() * 2 - 1

    def held_out_loss() -> float:
        with torch.no_grad():
            return float(gen.schedule.loss(gen.net, x0, torch.Generator().manual_seed(9)))

    before = held_out_loss()
    ema_before = gen.ema.unet.stem.weight.clone()
    gen.fit(_toy(), tmp_path)
    assert held_out_loss() < 0.8 * before
    # the EMA copy (what sample() uses) moved too, and lags the raw weights
    assert not torch.equal(gen.ema.unet.stem.weight, ema_before)
    assert not torch.equal(gen.ema.unet.stem.weight, gen.net.unet.stem.weight)


@pytest.mark.parametrize("kind", ["linear", "cosine"])
def test_schedule_is_monotone_from_signal_to_noise(kind: str) -> None:
    abar = DiffusionSchedule(1000, kind).abar  # type: ignore[arg-type]
    assert abar.shape == (1000,)
    assert bool((abar[1:] < abar[:-1]).all()) and float(abar[0]) > 0.99
    assert 0 <= float(abar[-1]) < 1e-3


def test_min_snr_weights_only_damp_nearly_clean_timesteps() -> None:
    sched = DiffusionSchedule(1000, "cosine", min_snr_gamma=5.0)
    snr = sched.abar / (1 - sched.abar)
    assert bool((sched.weight <= 1).all()) and bool((sched.weight[snr <= 5] == 1).all())
    assert float(sched.weight[0]) < 0.01  # t = 0: SNR in the thousands
    assert bool((DiffusionSchedule(1000, "cosine").weight == 1).all())


@pytest.mark.parametrize("kind", ["linear", "cosine"])
def test_sampling_starts_where_enough_signal_is_left(kind: str) -> None:
    sched = DiffusionSchedule(1000, kind)  # type: ignore[arg-type]
    assert sched.sampling_timesteps(50) == sorted(sched.sampling_timesteps(50), reverse=True)
    assert sched.sampling_timesteps(50)[0] == 999 and len(sched.sampling_timesteps(50)) == 50
    ts = sched.sampling_timesteps(20, start_abar=4e-3)
    assert len(ts) == 20 and len(set(ts)) == 20 and ts[-1] == 0
    assert float(sched.abar[ts[0]]) >= 4e-3 > float(sched.abar[ts[0] + 1])


@pytest.mark.parametrize("kind", ["linear", "cosine"])
def test_ddim_with_an_oracle_denoiser_recovers_the_data_point(kind: str) -> None:
    """If the net predicts the exact noise towards x*, deterministic DDIM must land on x*."""
    sched = DiffusionSchedule(1000, kind)  # type: ignore[arg-type]
    target = torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(0)) * 1.6 - 0.8

    class Oracle(nn.Module):
        def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            ab = sched.abar[t][:, None, None, None]
            return (x - ab.sqrt() * target) / (1 - ab).sqrt()

    noise = torch.randn(2, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    for steps, start_abar in [(1, 0.0), (7, 0.0), (50, 0.0), (50, 4e-3)]:
        out = sched.ddim_sample(Oracle(), noise, steps, clip=1.0, start_abar=start_abar)
        torch.testing.assert_close(out, target, atol=1e-2, rtol=0)  # float32 at abar ~ 1e-8


def test_unet_keeps_shapes_and_uses_the_timestep() -> None:
    torch.manual_seed(0)
    for mults, size, attention in [
        ((1, 2), 8, True),
        ((1, 2, 2), 16, False),
        ((1, 1, 2, 2), 32, True),
    ]:
        net = UNet(4, 8, mults, attention)
        for p in net.parameters():  # undo zero-inits so the output depends on everything
            nn.init.normal_(p, std=0.1)
        x = torch.randn(2, 4, size, size)
        out = net(x, torch.tensor([0, 0]))
        assert out.shape == x.shape
        assert not torch.allclose(out, net(x, torch.tensor([500, 500])))
    emb = timestep_embedding(torch.tensor([0, 1, 999]), 16)
    assert emb.shape == (3, 16) and not torch.allclose(emb[0], emb[1])


def test_default_sizes_are_small() -> None:
    assert auto_channel_mults(32) == (1, 2, 2) and auto_channel_mults(8) == (1, 2)
    assert auto_channel_mults(128) == (1, 1, 2, 2)
    gen = DDPMGenerator({}, image_size=32)
    n_params = sum(p.numel() for p in gen.net.parameters())
    assert 100_000 < n_params < 1_000_000 and gen.patch == 2


def test_bad_sizes_and_params_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="divisible by 2"):
        DDPMGenerator({"patch": 2}, image_size=15)
    with pytest.raises(ConfigError, match="divisible by 8"):
        DDPMGenerator({"patch": 1, "channel_mults": [1, 2, 2, 2]}, image_size=20)
    with pytest.raises(ConfigError, match="base_channels \\(32\\) must be at least"):
        DDPMGenerator({"patch": 4}, image_size=128)
    with pytest.raises(ConfigError, match="unknown ddpm generator parameter 'sampling_step'"):
        DDPMGenerator({"sampling_step": 3}, image_size=16)
    with pytest.raises(ConfigError, match="schedule"):
        DDPMGenerator({"schedule": "quadratic"}, image_size=16)
