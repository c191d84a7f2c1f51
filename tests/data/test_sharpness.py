"""The sharpness score falls with blur, ignores contrast and brightness, and reads files."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest

from fakescope.data.pixels import LUMA_WEIGHTS
from fakescope.data.sharpness import high_frequency_ratio, image_sharpness
from fakescope.errors import DecodeError
from tests.data.pixel_sets import blur, photo


def test_more_blur_means_lower_score() -> None:
    for seed in range(3):
        img = photo(seed)
        scores = [
            high_frequency_ratio(np.asarray(blur(img, r) if r else img, float) @ LUMA_WEIGHTS)
            for r in (0.0, 0.5, 1.0, 1.5)
        ]
        assert all(a > b + 0.1 for a, b in pairwise(scores)), scores


def test_contrast_and_brightness_do_not_change_the_score() -> None:
    luma = np.asarray(photo(7), float) @ LUMA_WEIGHTS
    assert high_frequency_ratio(0.5 * luma + 60.0) == pytest.approx(high_frequency_ratio(luma))


def test_flat_or_tiny_images_score_nan() -> None:
    assert np.isnan(high_frequency_ratio(np.full((32, 32), 90.0)))
    assert np.isnan(high_frequency_ratio(np.zeros((4, 40))))


def test_image_sharpness_reads_files(tmp_path: Path) -> None:
    sharp, soft = tmp_path / "s.png", tmp_path / "b.png"
    photo(1).save(sharp)
    blur(photo(1), 2.0).save(soft)
    assert image_sharpness(sharp) > image_sharpness(soft)
    (tmp_path / "bad.png").write_bytes(b"")
    with pytest.raises(DecodeError):
        image_sharpness(tmp_path / "bad.png")
