"""Degradations: same size and mode out, stronger settings degrade more, bad arguments refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fakescope.data.decode import load_image
from fakescope.data.degrade import blur, downscale, jpeg
from tests.conftest import write_image


@pytest.fixture
def img(tmp_path: Path) -> Image.Image:
    return load_image(write_image(tmp_path / "a.png", seed=1, size=32, fake=True, fmt="PNG"))


def _err(a: Image.Image, b: Image.Image) -> float:
    return float(np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2))


def _high_freq(a: Image.Image) -> float:
    x = np.asarray(a, np.float64)
    return float(np.abs(np.diff(x, axis=0)).mean() + np.abs(np.diff(x, axis=1)).mean())


def test_jpeg_keeps_size_and_lower_quality_loses_more(img: Image.Image) -> None:
    q90, q10 = jpeg(img, 90), jpeg(img, 10)
    assert q90.size == q10.size == img.size
    assert q90.mode == q10.mode == "RGB"
    assert 0 < _err(img, q90) < _err(img, q10)
    for bad in (0, 101):
        with pytest.raises(ValueError, match="quality"):
            jpeg(img, bad)


def test_blur_smooths_and_zero_is_identity(img: Image.Image) -> None:
    assert blur(img, 0) is img
    b1, b3 = blur(img, 1.0), blur(img, 3.0)
    assert b1.size == img.size
    assert _high_freq(b3) < _high_freq(b1) < _high_freq(img)
    with pytest.raises(ValueError, match="sigma"):
        blur(img, -1.0)


def test_downscale_restores_size_and_loses_detail(img: Image.Image) -> None:
    assert downscale(img, 1.0) is img
    half, quarter = downscale(img, 0.5), downscale(img, 0.25)
    assert half.size == quarter.size == img.size
    assert 0 < _err(img, half) < _err(img, quarter)
    for bad in (0.0, 1.5):
        with pytest.raises(ValueError, match="factor"):
            downscale(img, bad)
