"""The JPEG-history score finds a quantisation lattice on the 8-px grid, and only there."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fakescope.data.jpeg_history import (
    BLOCKINESS,
    QUANT,
    blockiness,
    image_scores,
    quantisation_score,
)
from fakescope.data.pixels import LUMA_WEIGHTS
from fakescope.errors import DecodeError
from tests.data.pixel_sets import blur, eight_px_grid, jpeg, photo

SEEDS = range(6)


def _luma(img: Image.Image) -> np.ndarray:
    return np.asarray(img, dtype=np.float64) @ LUMA_WEIGHTS


def _mean_score(make: Callable[[int], Image.Image]) -> float:
    return float(np.mean([quantisation_score(_luma(make(s))) for s in SEEDS]))


def test_jpeg_lattice_is_found_and_never_compressed_pixels_score_zero() -> None:
    assert _mean_score(lambda s: jpeg(photo(s), 75)) > 0.6
    assert _mean_score(lambda s: jpeg(photo(s), 90)) > 0.3
    for make in (lambda s: photo(s), lambda s: blur(photo(s))):
        assert abs(_mean_score(make)) < 0.05


def test_lattice_counts_only_on_the_block_grid() -> None:
    # the same JPEG cropped by 4 px: its blocks no longer sit on the image's grid
    shifted = [quantisation_score(_luma(jpeg(photo(s), 75))[4:, 4:]) for s in SEEDS]
    assert np.mean(shifted) < -0.5


def test_a_decoders_8px_grid_is_blocky_but_not_a_jpeg_history() -> None:
    plain = [_luma(photo(s)) for s in SEEDS]
    gridded = [_luma(eight_px_grid(photo(s))) for s in SEEDS]
    assert (
        np.mean([blockiness(x) for x in gridded]) > np.mean([blockiness(x) for x in plain]) + 0.03
    )
    assert abs(np.mean([quantisation_score(x) for x in gridded])) < 0.05


def test_double_compression_scores_above_the_last_encode_alone() -> None:
    single = _mean_score(lambda s: jpeg(photo(s), 90))
    double = _mean_score(lambda s: jpeg(jpeg(photo(s), 75), 90))
    assert double > single + 0.05


def test_tiny_or_flat_images_score_nan() -> None:
    assert np.isnan(quantisation_score(np.full((64, 64), 128.0)))
    assert np.isnan(blockiness(np.zeros((8, 8))))


def test_image_scores_reads_files_and_refuses_garbage(tmp_path: Path) -> None:
    path = tmp_path / "a.png"
    jpeg(photo(0), 75).save(path)
    scores = image_scores(path)
    assert scores[QUANT] > 0.5 and BLOCKINESS in scores
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"nope")
    with pytest.raises(DecodeError, match=r"bad\.png"):
        image_scores(bad)
