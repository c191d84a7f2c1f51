"""The latent-diffusion generator: autoencoder phase, latent scaling, latent DDPM, resume."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from fakescope.errors import ConfigError
from fakescope.forge.generators.base import CHECKPOINT
from fakescope.forge.generators.catalog import FAMILIES, GENERATORS
from fakescope.forge.generators.latent_diffusion import LatentDiffusionGenerator

TINY = {
    "steps": 10,
    "batch_size": 4,
    "ae_fraction": 0.4,  # steps 0-3 train the autoencoder, 4-9 the latent U-Net
    "ae_channels": 8,
    "base_channels": 8,
    "sampling_steps": 3,
    "checkpoint_every": 100,
}


def _toy(n: int = 16, size: int = 16) -> torch.Tensor:
    """Smooth colour blobs [n, 3, size, size] in [0, 1]."""
    g = torch.Generator().manual_seed(5)
    low = torch.rand(n, 3, 2, 2, generator=g)
    return nn.functional.interpolate(low, size=(size, size), mode="bilinear", align_corners=False)


class KilledError(Exception):
    """Stands in for a build killed after ``step``."""


def _kill_at(step: int):  # type: ignore[no-untyped-def]
    def on_step(s: int, losses: dict[str, float]) -> None:
        if s == step:
            raise KilledError

    return on_step


def test_registered_with_its_family() -> None:
    cls = GENERATORS.get("latent_diffusion")
    assert cls is LatentDiffusionGenerator and cls.family == "latent_diffusion"
    assert cls.family in FAMILIES and cls.kind == "sampler"


def test_phases_train_autoencoder_then_frozen_latent_unet(tmp_path: Path) -> None:
    gen = LatentDiffusionGenerator(TINY, image_size=16)
    assert gen.ae_steps == 4 and gen.latent_size == 4
    ae0 = gen.ae.encoder[0][0].weight.clone()
    unet0 = gen.net.stem.weight.clone()
    seen: list[set[str]] = []
    gen.fit(_toy(), tmp_path / "a", on_step=lambda s, losses: seen.append(set(losses)))
    assert seen == [{"recon"}] * 4 + [{"loss"}] * 6

    # after phase 1 the autoencoder moved and the U-Net did not; phase 2 froze the autoencoder
    half = LatentDiffusionGenerator(TINY, image_size=16)
    with pytest.raises(KilledError):
        half.fit(_toy(), tmp_path / "c", on_step=_kill_at(4))
    assert not torch.equal(half.ae.encoder[0][0].weight, ae0)
    assert torch.equal(half.net.stem.weight, unet0) and int(half.ae.calibrated) == 0
    assert torch.equal(gen.ae.encoder[0][0].weight, half.ae.encoder[0][0].weight)
    assert not torch.equal(gen.net.stem.weight, unet0) and int(gen.ae.calibrated) == 1


def test_latents_are_scaled_to_unit_variance_and_checkpointed(tmp_path: Path) -> None:
    gen = LatentDiffusionGenerator({**TINY, "steps": 5}, image_size=16)
    gen.fit(_toy(), tmp_path)  # 2 autoencoder steps, then calibration at the first U-Net step
    assert int(gen.ae.calibrated) == 1
    batch = _toy(8) * 2 - 1
    gen.ae.calibrate(batch)
    with torch.no_grad():
        z = gen.ae.encode(batch)
    torch.testing.assert_close(z.mean(dim=(0, 2, 3)), torch.zeros(4), atol=1e-4, rtol=0)
    torch.testing.assert_close(z.std(dim=(0, 2, 3)), torch.ones(4), atol=1e-4, rtol=0)
    gen.save_checkpoint(tmp_path)
    fresh = LatentDiffusionGenerator({**TINY, "steps": 5}, image_size=16)
    assert fresh.load_checkpoint(tmp_path) and int(fresh.ae.calibrated) == 1
    torch.testing.assert_close(fresh.ae.latent_scale, gen.ae.latent_scale, rtol=0, atol=0)
    torch.testing.assert_close(fresh.ae.latent_shift, gen.ae.latent_shift, rtol=0, atol=0)
    assert not torch.equal(fresh.ae.latent_scale, torch.ones(4))


@pytest.mark.parametrize(
    ("checkpoint_every", "kill_at"),
    [(3, 4), (2, 5), (3, 7)],  # resume in phase 1, exactly at the boundary, in phase 2
)
def test_resume_across_the_phase_boundary_is_exact(
    tmp_path: Path, checkpoint_every: int, kill_at: int
) -> None:
    params = {**TINY, "checkpoint_every": checkpoint_every}
    whole = LatentDiffusionGenerator(params, image_size=16)
    whole.fit(_toy(), tmp_path / "whole")

    first = LatentDiffusionGenerator(params, image_size=16)
    with pytest.raises(KilledError):
        first.fit(_toy(), tmp_path / "split", on_step=_kill_at(kill_at))
    assert (tmp_path / "split" / CHECKPOINT).is_file()
    resumed = LatentDiffusionGenerator(params, image_size=16)
    resumed.fit(_toy(), tmp_path / "split")
    assert resumed.step_ == whole.step_ == 10

    expected = whole.state_tensors()
    got = resumed.state_tensors()
    assert set(got) == set(expected) and "ae.latent_scale" in got
    for key, value in expected.items():
        torch.testing.assert_close(got[key], value, rtol=0, atol=0, msg=key)
    sample = whole.sample(2, torch.Generator().manual_seed(0))
    assert torch.equal(sample, resumed.sample(2, torch.Generator().manual_seed(0)))


def test_samples_have_shape_range_and_are_seeded(tmp_path: Path) -> None:
    gen = LatentDiffusionGenerator({**TINY, "sample_batch": 2}, image_size=16, seed=2)
    gen.fit(_toy(), tmp_path)
    x = gen.sample(3, torch.Generator().manual_seed(0))
    assert x.shape == (3, 3, 16, 16) and float(x.min()) >= 0 and float(x.max()) <= 1
    torch.testing.assert_close(x, gen.sample(3, torch.Generator().manual_seed(0)), rtol=0, atol=0)
    assert not torch.equal(x, gen.sample(3, torch.Generator().manual_seed(1)))


def test_autoencoder_phase_reduces_reconstruction_error(tmp_path: Path) -> None:
    gen = LatentDiffusionGenerator(
        {**TINY, "steps": 50, "ae_fraction": 0.9, "lr": 3e-3}, image_size=16
    )
    images = _toy()
    before = float((gen.reconstruct(images) - images).abs().mean())
    with pytest.raises(KilledError):
        gen.fit(images, tmp_path, on_step=_kill_at(gen.ae_steps))
    after = float((gen.reconstruct(images) - images).abs().mean())
    assert after < 0.75 * before


def test_works_at_face_resolution_and_rejects_bad_sizes() -> None:
    gen = LatentDiffusionGenerator({**TINY, "sampling_steps": 1}, image_size=128)
    assert gen.latent_size == 32
    out = gen.sample(1, torch.Generator().manual_seed(0))
    assert out.shape == (1, 3, 128, 128)
    with pytest.raises(ConfigError, match="divisible by 4"):
        LatentDiffusionGenerator({}, image_size=30)
    with pytest.raises(ConfigError, match="unknown latent_diffusion generator parameter"):
        LatentDiffusionGenerator({"ae_frac": 0.5}, image_size=32)
