"""Shared face geometry and image helpers of the face manipulations."""

from __future__ import annotations

import math

import pytest
import torch

from fakescope.forge.generators.face_regions import (
    DEFAULT_GEOMETRY,
    elastic_deform,
    ellipse_masks,
    feather,
    gaussian_blur,
    lab_to_rgb,
    match_colour,
    psnr,
    random_affine,
    region_masks,
    rgb_to_lab,
)


def _rand(n: int = 2, size: int = 16) -> torch.Tensor:
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(0))


def test_lab_round_trip_and_known_values() -> None:
    x = _rand()
    torch.testing.assert_close(lab_to_rgb(rgb_to_lab(x)), x, rtol=0, atol=1e-4)
    white = rgb_to_lab(torch.ones(1, 3, 1, 1)).flatten()
    torch.testing.assert_close(white, torch.tensor([100.0, 0.0, 0.0]), rtol=0, atol=0.05)


def test_ellipse_area_matches_the_geometry() -> None:
    g = DEFAULT_GEOMETRY
    area = float(ellipse_masks(1, 128).mean())
    assert area == pytest.approx(math.pi * g.rx * g.ry, rel=0.02)
    half = float(ellipse_masks(1, 128, scale=torch.tensor([0.5])).mean())
    assert half == pytest.approx(area / 4, rel=0.05)


def test_blur_and_feather_keep_constants_and_soften_edges() -> None:
    flat = torch.full((1, 3, 12, 12), 0.3)
    torch.testing.assert_close(gaussian_blur(flat, 2.0), flat)
    hard = ellipse_masks(1, 32)
    soft = feather(hard, 2.0)
    assert float(soft.min()) >= 0 and float(soft.max()) <= 1
    assert int(((soft > 0.01) & (soft < 0.99)).sum()) > int(((hard > 0) & (hard < 1)).sum())


def test_zero_jitter_is_the_identity() -> None:
    x = _rand()
    torch.testing.assert_close(random_affine(x, torch.Generator()), x, rtol=0, atol=1e-5)
    m = ellipse_masks(2, 16)
    torch.testing.assert_close(
        elastic_deform(m, torch.Generator(), strength=0.0), m, rtol=0, atol=1e-5
    )


@pytest.mark.parametrize("space", ["lab", "rgb"])
def test_colour_transfer_matches_masked_statistics(space: str) -> None:
    source, target = _rand(1) * 0.5, _rand(1).flip(-1) * 0.4 + 0.5
    mask = ellipse_masks(1, 16)
    out = match_colour(source, target, mask, space=space)
    conv = rgb_to_lab if space == "lab" else (lambda t: t)
    inside = mask.bool().expand(1, 3, 16, 16)
    got = conv(out)[inside].view(3, -1).mean(1)
    want = conv(target)[inside].view(3, -1).mean(1)
    torch.testing.assert_close(got, want, rtol=0, atol=0.5 if space == "lab" else 0.01)


def test_region_masks_cover_one_face_part_each() -> None:
    masks = region_masks(32, 64, torch.Generator().manual_seed(0))
    assert masks.shape == (32, 1, 64, 64)
    frac = masks.flatten(1).mean(1)
    assert float(frac.min()) > 0.01 and float(frac.max()) < 0.15
    assert psnr(masks, masks).min() > 100
