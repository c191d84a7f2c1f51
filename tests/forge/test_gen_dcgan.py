"""DCGAN generator: transposed-conv up-sampling, seeded sampling, resumable adversarial training."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from fakescope.errors import ConfigError
from fakescope.forge.generators.base import CHECKPOINT
from fakescope.forge.generators.catalog import GENERATORS
from fakescope.forge.generators.dcgan import DCGAN

TINY = {"batch_size": 8, "base_channels": 8, "max_channels": 16, "z_dim": 8}


def _images(size: int = 16, n: int = 24) -> torch.Tensor:
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(3))


def _sample(g: DCGAN, n: int = 4) -> torch.Tensor:
    return g.sample(n, torch.Generator().manual_seed(7))


def test_registered_as_gan() -> None:
    assert GENERATORS.get("dcgan") is DCGAN
    assert DCGAN.family == "gan" and DCGAN.kind == "sampler"


def test_same_seed_same_training_and_samples(tmp_path: Path) -> None:
    a = DCGAN({**TINY, "steps": 3}, image_size=16, seed=5)
    b = DCGAN({**TINY, "steps": 3}, image_size=16, seed=5)
    before = _sample(a)
    a.fit(_images(), tmp_path / "a")
    b.fit(_images(), tmp_path / "b")
    out = _sample(a)
    assert out.shape == (4, 3, 16, 16) and out.dtype == torch.float32
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0
    torch.testing.assert_close(out, _sample(b), rtol=0, atol=0)
    assert not torch.equal(before, out)  # training changed the generator
    other = DCGAN({**TINY, "steps": 3}, image_size=16, seed=6)
    assert not torch.equal(_sample(other), before)  # the seed builds different networks


def test_sample_does_not_depend_on_chunking() -> None:
    g = DCGAN(TINY, image_size=16)
    whole = _sample(g, 6)
    g.sample_chunk = 4
    torch.testing.assert_close(_sample(g, 6), whole)
    assert g.G.training  # sample() restored the module's mode


@pytest.mark.parametrize(("size", "ups"), [(16, 2), (32, 3), (128, 5)])
def test_upsamples_only_by_stride2_transposed_convs(size: int, ups: int) -> None:
    g = DCGAN(TINY, image_size=size)
    stride2 = [m for m in g.G.modules() if isinstance(m, nn.ConvTranspose2d) and m.stride == (2, 2)]
    assert len(stride2) == ups
    assert not any(isinstance(m, nn.Upsample) for m in g.G.modules())
    assert g.sample(1, torch.Generator()).shape == (1, 3, size, size)


def test_one_step_at_128_px() -> None:
    g = DCGAN({**TINY, "batch_size": 2}, image_size=128)
    losses = g.train_step(_images(128, 2), torch.Generator().manual_seed(0))
    assert set(losses) == {"loss_d", "loss_g"}
    assert all(torch.isfinite(torch.tensor(v)) for v in losses.values())


@pytest.mark.parametrize("size", [8, 24, 48, 100])
def test_bad_image_size_is_a_config_error(size: int) -> None:
    with pytest.raises(ConfigError, match="power of two >= 16"):
        DCGAN(TINY, image_size=size)


def test_bad_params_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="'loss'"):
        DCGAN({"loss": "wasserstein"}, image_size=16)
    with pytest.raises(ConfigError, match="unknown dcgan generator parameter 'zdim'"):
        DCGAN({"zdim": 3}, image_size=16)


def test_spectral_norm_hinge_resume_equals_uninterrupted(tmp_path: Path) -> None:
    params = {**TINY, "steps": 4, "checkpoint_every": 2, "spectral_norm": True, "loss": "hinge"}
    whole = DCGAN(params, image_size=16)
    whole.fit(_images(), tmp_path / "whole")

    DCGAN({**params, "steps": 2}, image_size=16).fit(_images(), tmp_path / "split")
    assert (tmp_path / "split" / CHECKPOINT).is_file()
    resumed = DCGAN(params, image_size=16)
    resumed.fit(_images(), tmp_path / "split")

    assert not any(isinstance(m, nn.BatchNorm2d) for m in whole.D.modules())
    assert resumed.step_ == whole.step_ == 4
    state = resumed.state_tensors()
    for key, value in whole.state_tensors().items():
        torch.testing.assert_close(state[key], value, rtol=0, atol=0)
    torch.testing.assert_close(_sample(resumed), _sample(whole), rtol=0, atol=0)
