"""The realnvp flow: exact invertibility, exact log-determinants, likelihood training, sampling."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from fakescope.errors import ConfigError
from fakescope.forge.generators.catalog import GENERATORS
from fakescope.forge.generators.realnvp import (
    ChannelCoupling,
    CheckerboardCoupling,
    MultiScaleFlow,
    RealNVPGenerator,
    from_logit,
    to_logit,
)

TINY = {"hidden": 8, "couplings": 2, "batch_size": 8, "checkpoint_every": 1000}


def _perturb(module: nn.Module, seed: int = 0, std: float = 0.3) -> None:
    """Random non-zero weights everywhere (zero-initialised heads would make the flow trivial)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(std * torch.randn(p.shape, generator=gen, dtype=p.dtype))


def _toy_images(tmp_path: Path, write_image: object, n: int = 16, size: int = 16) -> torch.Tensor:
    arrays = [
        np.asarray(Image.open(write_image(tmp_path / f"{i}.png", seed=i, size=size, fmt="PNG")))  # type: ignore[operator]
        for i in range(n)
    ]
    return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).float() / 255.0


def test_registered_as_flow_sampler() -> None:
    cls = GENERATORS.get("realnvp")
    assert cls is RealNVPGenerator and cls.family == "flow" and cls.kind == "sampler"


def test_flow_is_invertible(tmp_path: Path, make_image: object) -> None:
    gen = RealNVPGenerator(TINY, image_size=16, seed=3)
    x = _toy_images(tmp_path, make_image, n=4)
    gen.flow.train()
    gen.log_likelihood(x, torch.Generator().manual_seed(0))  # initialises ActNorm from data
    _perturb(gen.flow, std=0.05)
    gen.flow.eval()
    y = x * 0.98 + 0.01
    with torch.no_grad():
        v, _ = to_logit(y)
        zs, _ = gen.flow(v)
        back = from_logit(gen.flow.inverse(zs))
    assert [tuple(z.shape[1:]) for z in zs] == gen.flow.latent_shapes(16)
    assert float((back - y).abs().max()) < 1e-4
    flat_z = torch.cat([z.flatten(1) for z in zs], 1)
    assert float((flat_z.sort(1).values - v.flatten(1).sort(1).values).abs().max()) > 0.1


@pytest.mark.parametrize(
    ("make_layer", "shape"),
    [
        (lambda: CheckerboardCoupling(2, 8, parity=1), (1, 2, 4, 4)),
        (lambda: ChannelCoupling(4, 8, parity=0), (1, 4, 2, 2)),
        (lambda: ChannelCoupling(4, 8, parity=1), (1, 4, 2, 2)),
    ],
)
def test_coupling_logdet_matches_brute_force_jacobian(
    make_layer: Callable[[], nn.Module], shape: tuple[int, ...]
) -> None:
    torch.manual_seed(0)  # built here, not at collection: the init must not depend on test order
    layer = make_layer().double()
    _perturb(layer, seed=1)
    x = torch.randn(shape, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    logdet = layer(x)[1].detach()
    jac = torch.autograd.functional.jacobian(
        lambda t: layer(t.view(shape))[0].flatten(), x.flatten()
    )
    sign, brute = torch.linalg.slogdet(jac)
    assert float(sign) > 0
    assert abs(float(logdet[0]) - float(brute)) < 1e-8
    assert abs(float(brute)) > 0.1  # the layer really scales


def test_whole_flow_logdet_matches_brute_force_jacobian() -> None:
    flow = MultiScaleFlow(n_scales=1, hidden=8, couplings=1, actnorm=True).double()
    _perturb(flow, seed=4)
    x = torch.randn(1, 3, 4, 4, generator=torch.Generator().manual_seed(5), dtype=torch.float64)

    def flat(t: torch.Tensor) -> torch.Tensor:
        return torch.cat([z.flatten() for z in flow(t.view(1, 3, 4, 4))[0]])

    logdet = flow(x)[1].detach()
    _, brute = torch.linalg.slogdet(torch.autograd.functional.jacobian(flat, x.flatten()))
    assert abs(float(logdet[0]) - float(brute)) < 1e-8


def test_training_lowers_bits_per_dim_and_is_seeded(tmp_path: Path, make_image: object) -> None:
    images = _toy_images(tmp_path, make_image)
    params = {**TINY, "steps": 12}

    def bpd(g: RealNVPGenerator) -> float:
        with torch.no_grad():
            return float(g.log_likelihood(images, torch.Generator().manual_seed(9))[1].mean())

    a = RealNVPGenerator(params, image_size=16, seed=1)
    start = bpd(a)
    losses: list[float] = []
    a.fit(images, tmp_path / "a", on_step=lambda _, loss: losses.append(loss["bpd"]))
    assert bpd(a) < start - 0.1 and len(losses) == 12

    b = RealNVPGenerator(params, image_size=16, seed=1)
    b.fit(images, tmp_path / "b")
    s_a = a.sample(5, torch.Generator().manual_seed(0))
    s_b = b.sample(5, torch.Generator().manual_seed(0))
    assert s_a.shape == (5, 3, 16, 16) and s_a.dtype == torch.float32
    assert float(s_a.min()) >= 0 and float(s_a.max()) <= 1
    assert torch.equal(s_a, s_b)
    assert not torch.equal(s_a, a.sample(5, torch.Generator().manual_seed(1)))


def test_temperature_scales_the_latents() -> None:
    cold = RealNVPGenerator({**TINY, "temperature": 0.01}, image_size=16, seed=0)
    hot = RealNVPGenerator({**TINY, "temperature": 1.0}, image_size=16, seed=0)
    # untrained flow = identity in logit space: a cold sample is flat grey, a hot one noisy
    assert float(cold.sample(2, torch.Generator().manual_seed(0)).std()) < 0.01
    assert float(hot.sample(2, torch.Generator().manual_seed(0)).std()) > 0.1


def test_image_size_must_fit_the_scales() -> None:
    with pytest.raises(ConfigError, match="divisible by 4"):
        RealNVPGenerator({"n_scales": 2}, image_size=30)
    with pytest.raises(ConfigError, match="unknown realnvp generator parameter"):
        RealNVPGenerator({"temp": 0.5}, image_size=32)


def test_resume_restores_actnorm_and_matches_uninterrupted(
    tmp_path: Path, make_image: object
) -> None:
    images = _toy_images(tmp_path, make_image)
    params = {**TINY, "steps": 4, "checkpoint_every": 2}
    whole = RealNVPGenerator(params, image_size=16, seed=2)
    whole.fit(images, tmp_path / "whole")
    RealNVPGenerator({**params, "steps": 2}, image_size=16, seed=2).fit(images, tmp_path / "cut")
    resumed = RealNVPGenerator(params, image_size=16, seed=2)
    resumed.fit(images, tmp_path / "cut")
    assert int(resumed.state_tensors()["flow.scales.0.0.initialized"]) == 1
    for key, value in whole.state_tensors().items():
        assert torch.equal(resumed.state_tensors()[key], value), key
