"""The upsampler manipulation: box downscale + learned sub-pixel super-resolution."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from fakescope.errors import ConfigError, DataError
from fakescope.forge.generators.catalog import GENERATORS
from fakescope.forge.generators.upsampler import (
    UpsamplerGenerator,
    bicubic_upscale,
    box_downscale,
)

TINY = {"hidden": 8, "n_blocks": 1, "batch_size": 16, "lr": 3e-3, "checkpoint_every": 1000}


def _smooth_images(n: int, size: int = 16, seed: int = 0) -> torch.Tensor:
    """[n, 3, size, size] in [0, 1]: smooth sinusoidal gratings (period 5-8 px, random angle/phase).

    Box downscaling attenuates them and bicubic restoration cannot undo that; a learned
    up-sampler can (it learns to re-sharpen).
    """
    gen = torch.Generator().manual_seed(seed)
    angle = torch.rand(n, 3, 1, 1, generator=gen) * math.pi
    period = 5 + 3 * torch.rand(n, 3, 1, 1, generator=gen)
    phase = torch.rand(n, 3, 1, 1, generator=gen) * 2 * math.pi
    yy, xx = torch.meshgrid(torch.arange(size * 1.0), torch.arange(size * 1.0), indexing="ij")
    wave = torch.sin(2 * math.pi * (xx * angle.cos() + yy * angle.sin()) / period + phase)
    return ((0.5 + 0.4 * wave) * 255).round() / 255


def _l1(gen: UpsamplerGenerator, images: torch.Tensor) -> float:
    return float((gen.manipulate(images, torch.Generator()) - images).abs().mean())


def test_registered_as_upsampler_manipulation() -> None:
    cls = GENERATORS.get("upsampler")
    assert cls is UpsamplerGenerator and cls.family == "upsampler" and cls.kind == "manipulation"


def test_box_downscale_averages_blocks() -> None:
    x = torch.arange(16.0).view(1, 1, 4, 4)
    assert box_downscale(x, 2).flatten().tolist() == [2.5, 4.5, 10.5, 12.5]


def test_untrained_is_bicubic_and_training_beats_it(tmp_path: Path) -> None:
    train, test = _smooth_images(64, seed=0), _smooth_images(32, seed=1)
    bicubic = bicubic_upscale(box_downscale(test, 2), 2).clamp(0, 1)
    baseline = float((bicubic - test).abs().mean())
    gen = UpsamplerGenerator({**TINY, "steps": 30}, image_size=16, seed=0)
    assert torch.allclose(gen.manipulate(test, torch.Generator()), bicubic, atol=1e-6)
    gen.fit(train, tmp_path / "run")
    assert _l1(gen, test) < 0.8 * baseline


@pytest.mark.parametrize("factor", [2, 4])
def test_output_matches_input_shape_and_range(factor: int) -> None:
    gen = UpsamplerGenerator({**TINY, "factor": factor}, image_size=16, seed=0)
    with torch.no_grad():
        for p in gen.net.parameters():
            p.add_(0.2 * torch.randn(p.shape, generator=torch.Generator().manual_seed(3)))
    images = _smooth_images(3)
    out = gen.manipulate(images, torch.Generator())
    assert out.shape == images.shape and out.dtype == torch.float32
    assert float(out.min()) >= 0 and float(out.max()) <= 1
    assert not torch.equal(out, images)


def test_same_seed_same_output_and_rng_is_unused(tmp_path: Path) -> None:
    train, test = _smooth_images(32, seed=0), _smooth_images(4, seed=1)
    a = UpsamplerGenerator({**TINY, "steps": 5}, image_size=16, seed=7)
    b = UpsamplerGenerator({**TINY, "steps": 5}, image_size=16, seed=7)
    a.fit(train, tmp_path / "a")
    b.fit(train, tmp_path / "b")
    out_a = a.manipulate(test, torch.Generator().manual_seed(0))
    assert torch.equal(out_a, b.manipulate(test, torch.Generator().manual_seed(1)))
    c = UpsamplerGenerator({**TINY, "steps": 5}, image_size=16, seed=8)
    c.fit(train, tmp_path / "c")
    assert not torch.equal(out_a, c.manipulate(test, torch.Generator()))


def test_bad_sizes_are_clear() -> None:
    with pytest.raises(ConfigError, match="factor 3 does not divide image size 16"):
        UpsamplerGenerator({"factor": 3}, image_size=16)
    gen = UpsamplerGenerator(TINY, image_size=16)
    with pytest.raises(DataError, match="divisible by 2"):
        gen.manipulate(torch.rand(1, 3, 15, 15), torch.Generator())
