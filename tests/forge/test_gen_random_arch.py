"""The random_arch manipulation: reals mixed with untrained, randomly drawn encoder-decoders."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from fakescope.errors import ConfigError, DataError
from fakescope.forge.generators.base import FAMILIES, GENERATORS
from fakescope.forge.generators.face_regions import gaussian_blur, psnr
from fakescope.forge.generators.random_arch import ACTS, UP_KINDS, RandomArch

SIZE = 64


def _natural(n: int, size: int = SIZE, seed: int = 0) -> torch.Tensor:
    """[n, 3, size, size] in [0, 1]: 1/f-amplitude noise around mid-grey (a natural-image
    spectrum without any periodic structure, and little clipping)."""
    gen = torch.Generator().manual_seed(seed)
    f = torch.fft.fftfreq(size)
    radius = (f[:, None] ** 2 + f[None, :] ** 2).sqrt().clamp_min(1.0 / size)
    noise = torch.randn(n, 3, size, size, generator=gen)
    field = torch.fft.ifft2(torch.fft.fft2(noise) / radius).real
    field = (field - field.mean(dim=(2, 3), keepdim=True)) / field.flatten(1).std(1).view(
        -1, 1, 1, 1
    )
    return (0.5 + 0.12 * field).clamp(0, 1)


def _nyquist_peak(residual: torch.Tensor) -> float:
    """Mean power of ``residual`` [N, 3, H, H] at the 2x up-sampling frequencies (H/2, 0),
    (0, H/2), (H/2, H/2), over the median power of their 5x5 neighbourhoods (average spectrum of
    unit-energy residuals). ~1 for a stationary signal, 0 for no residual, >> 1 for a period-2 trace."""
    r = residual - residual.mean(dim=(2, 3), keepdim=True)
    r = r / r.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1, 1)
    power = (torch.fft.fft2(r).abs() ** 2).mean(dim=(0, 1))
    n, half = power.shape[-1], power.shape[-1] // 2
    peaks, background = [], []
    for a, b in ((half, 0), (0, half), (half, half)):
        peaks.append(power[a, b])
        ring = [
            power[(a + i) % n, (b + j) % n]
            for i in range(-2, 3)
            for j in range(-2, 3)
            if (i, j) != (0, 0)
        ]
        background.append(torch.stack(ring).median())
    return float(torch.stack(peaks).mean() / (torch.stack(background).mean() + 1e-12))


def _phase_imbalance(residual: torch.Tensor) -> float:
    """Largest |log ratio| of ``residual`` [N, 3, H, W] energies between pixel phases
    (even vs odd neighbour differences along each axis, and the four 2x2 polyphase parts):
    0 for a stationary signal, > 0 for a period-2 (up-sampling) trace."""
    stats = []
    for dim in (2, 3):
        d = residual.diff(dim=dim) ** 2
        even = d.index_select(dim, torch.arange(0, d.shape[dim], 2)).mean()
        odd = d.index_select(dim, torch.arange(1, d.shape[dim], 2)).mean()
        stats.append(float(torch.log(even / odd).abs()))
    parts = torch.stack([(residual[..., p::2, q::2] ** 2).mean() for p in (0, 1) for q in (0, 1)])
    stats.append(float(torch.log(parts.max() / parts.min())))
    return max(stats)


class _Blur(nn.Module):
    """A Gaussian blur (sigma 1 px) standing in for the network: [B, 3, H, W] -> same."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return gaussian_blur(x, 1.0)


def test_registered_as_training_free_manipulation() -> None:
    cls = GENERATORS.get("random_arch")
    assert cls is RandomArch and cls.family == "random_arch" and cls.kind == "manipulation"
    assert cls.family in FAMILIES
    gen = RandomArch({}, image_size=32)
    assert gen.params.steps == 0 and gen.modules() == {} and gen.params.nets == 64


def test_same_seed_same_bytes_other_seed_or_rng_differs() -> None:
    x = _natural(6, 32, seed=1)
    torch.manual_seed(123)  # the global RNG must play no part
    a = RandomArch({"nets": 8}, image_size=32, seed=5)
    out_a = a.manipulate(x, torch.Generator().manual_seed(9))
    torch.manual_seed(456)
    b = RandomArch({"nets": 8}, image_size=32, seed=5)
    b.manipulate(_natural(4, 32, seed=2), torch.Generator().manual_seed(1))  # other nets first
    assert torch.equal(out_a, b.manipulate(x, torch.Generator().manual_seed(9)))
    c = RandomArch({"nets": 8}, image_size=32, seed=6)
    assert not torch.equal(out_a, c.manipulate(x, torch.Generator().manual_seed(9)))
    assert not torch.equal(out_a, a.manipulate(x, torch.Generator().manual_seed(10)))
    assert a.describe(0) != c.describe(0) or a.describe(1) != c.describe(1)


def test_content_kept_within_the_documented_psnr_band() -> None:
    x = _natural(12, seed=2)
    gen = RandomArch({"nets": 16}, image_size=SIZE, seed=0)
    out = gen.manipulate(x, torch.Generator().manual_seed(0))
    assert out.shape == x.shape and out.dtype == torch.float32
    assert float(out.min()) >= 0 and float(out.max()) <= 1
    db = psnr(out, x)
    low, high = gen.params.strength
    # rms change <= s_max, so PSNR >= -20 log10(s_max); mid-grey images barely clip, so
    # PSNR stays near -20 log10(s) <= -20 log10(s_min): the band is about 24.4-34 dB.
    assert float(db.min()) >= -20 * math.log10(high) - 0.01
    assert float(db.max()) <= -20 * math.log10(low) + 1
    assert float(db.max()) - float(db.min()) > 3  # strengths really vary per image
    # channel means (the colours) are kept
    assert float((out.mean(dim=(2, 3)) - x.mean(dim=(2, 3))).abs().max()) < 0.01
    fixed = RandomArch({"nets": 16, "strength": (0.04, 0.04)}, image_size=SIZE, seed=0)
    db = psnr(fixed.manipulate(x, torch.Generator().manual_seed(0)), x)
    assert torch.allclose(db, torch.full_like(db, -20 * math.log10(0.04)), atol=0.5)


def _residuals(
    gen: RandomArch, x: torch.Tensor, monkeypatch: pytest.MonkeyPatch
) -> list[torch.Tensor]:
    """Residuals out - in [N, 3, H, W] of ``gen`` on ``x``, then of the same mix with an identity
    and a Gaussian-blur stand-in for every network (the controls)."""
    out = [gen.manipulate(x, torch.Generator().manual_seed(0)) - x]
    for stand_in in (nn.Identity(), _Blur()):
        monkeypatch.setattr(gen, "net", lambda index, module=stand_in: module)
        out.append(gen.manipulate(x, torch.Generator().manual_seed(0)) - x)
    assert all(float(r.abs().mean()) > 0.005 for r in out)  # the stand-ins changed images too
    return out


@pytest.mark.parametrize("kind", UP_KINDS)
def test_each_upsampling_kind_leaves_a_spectral_peak(
    kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pool of nets using only ``kind`` leaves a peak at the 2x up-sampling frequency in the
    average spectrum of out - in; the same mix with an identity or blur "network" does not.
    (nearest + conv is the mildest kind: its pools score about 2-5, the controls about 1.)"""
    x = _natural(16, seed=3)
    gen = RandomArch({"upsampling": [kind], "nets": 8}, image_size=SIZE, seed=0)
    residual, *controls = _residuals(gen, x, monkeypatch)
    assert all(_nyquist_peak(control) < 1.3 for control in controls)
    assert _nyquist_peak(torch.zeros_like(x)) == 0.0
    peak = _nyquist_peak(residual)
    assert peak > 1.6, f"{kind}: no spectral peak at the up-sampling frequency ({peak:.2f})"


def test_default_pool_residual_depends_on_pixel_phase(monkeypatch: pytest.MonkeyPatch) -> None:
    """The default (all kinds) pool: a strong spectral peak, and residual energy that depends on
    the pixel's position in its 2x2 cell (cyclo-stationarity), unlike the controls."""
    gen = RandomArch({"nets": 8}, image_size=SIZE, seed=0)
    residual, *controls = _residuals(gen, _natural(16, seed=3), monkeypatch)
    assert all(_phase_imbalance(control) < 0.025 for control in controls)
    assert _phase_imbalance(residual) > 0.08 and _nyquist_peak(residual) > 5


def test_pool_covers_every_allowed_kind_within_the_ranges() -> None:
    gen = RandomArch({"nets": 4}, image_size=32, seed=3)
    assert {spec.up[0] for spec in gen.specs} == set(UP_KINDS)  # full-size stage: one per kind
    gen = RandomArch(
        {"nets": 64, "depth": (2, 3), "width": (8, 12), "upsampling": ["transposed", "bilinear"]},
        image_size=32,
        seed=1,
    )
    ups = [u for spec in gen.specs for u in spec.up]
    assert set(ups) == {"transposed", "bilinear"}
    assert {spec.depth for spec in gen.specs} == {2, 3}
    assert {w for spec in gen.specs for w in spec.widths} <= set(range(8, 13))
    kernels = {k for spec in gen.specs for u, k in zip(spec.up, spec.kernels, strict=True)}
    assert kernels == {0, 2, 3, 4}
    assert {spec.act for spec in gen.specs} == set(ACTS)
    assert len({gen.describe(i) for i in range(64)}) == 64  # descriptions tell nets apart


def test_recorded_architecture_is_the_one_each_image_got() -> None:
    x = _natural(5, 16, seed=4)[:, :, :, :16].repeat(1, 1, 1, 2)  # non-square 16 x 32
    gen = RandomArch({"nets": 6}, image_size=16, seed=2)
    out = gen.manipulate(x, torch.Generator().manual_seed(7))
    indices, strength = gen.assign(5, torch.Generator().manual_seed(7))
    assert gen.last_nets_ == indices and out.shape == x.shape
    for j, index in enumerate(indices):
        y = gen.net(index)(2 * x[j : j + 1] - 1)
        alone = gen.mix(x[j : j + 1], y, strength[j : j + 1])
        assert torch.allclose(out[j : j + 1], alone, atol=1e-5)
        spec = gen.specs[index]
        assert gen.describe(index).startswith(f"enc {spec.widths[0]}/")


@pytest.mark.parametrize("act", ACTS)
def test_random_init_keeps_activations_at_scale(act: str) -> None:
    """Without normalisation, 8 layers deep at width 64, the output keeps the input's scale."""
    gen = RandomArch(
        {"nets": 4, "depth": (3, 3), "width": (64, 64), "norms": ["none"], "activations": [act]},
        image_size=32,
        seed=0,
    )
    x = 2 * _natural(2, 32, seed=5) - 1
    for index in range(4):
        ratio = float(gen.net(index)(x).std() / x.std())
        assert 0.05 < ratio < 20, f"{gen.describe(index)}: output/input std {ratio:.3g}"


@pytest.mark.parametrize(
    ("params", "size", "message"),
    [
        ({"depth": (3, 1)}, 32, "'depth'.*low <= high"),
        ({"upsampling": []}, 32, "'upsampling'.*at least one"),
        ({"upsampling": ["cubic"]}, 32, "'upsampling.0'"),
        ({"strength": (0.1, 0.01)}, 32, "'strength'"),
        ({"strength": (0.0, 0.1)}, 32, "'strength.0'"),
        ({"width": (2, 8)}, 32, "'width.0'"),
        ({"nets": 3}, 32, "nets=3 cannot cover the 4 allowed"),
        ({"depth": (1, 2)}, 18, "divisible by 4"),
        ({}, 20, "divisible by 8"),
        ({"bogus": 1}, 32, "unknown random_arch generator parameter 'bogus'"),
    ],
)
def test_bad_params_are_one_line_config_errors(
    params: dict[str, object], size: int, message: str
) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        RandomArch(params, image_size=size)
    assert "\n" not in str(info.value)


def test_bad_images_are_clear() -> None:
    gen = RandomArch({"nets": 4}, image_size=16)
    with pytest.raises(DataError, match="divisible by 8"):
        gen.manipulate(torch.rand(1, 3, 16, 12), torch.Generator())
    with pytest.raises(DataError, match=r"\[n, 3, H, W\]"):
        gen.manipulate(torch.rand(3, 16, 16), torch.Generator())
