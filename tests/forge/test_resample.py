"""The stand-in resampling benchmark: layout, format matching, determinism."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fakescope.errors import DataError
from fakescope.forge.resample import KERNELS, build_resample_benchmark, resample_fake
from tests.conftest import write_image


def _source(tmp_path: Path, n: int) -> Path:
    src = tmp_path / "src"
    for i in range(n):
        write_image(src / f"{i:03d}.jpg", seed=i)
    return src


def _digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*.jpg"))
    }


def test_layout_counts_and_format(tmp_path: Path) -> None:
    out = build_resample_benchmark(
        _source(tmp_path, 60), tmp_path / "b", per_generator=20, progress=False
    )
    for gen in KERNELS:
        counts = {
            (s, lab): len(list((out / gen / s / lab).glob("*.jpg")))
            for s in ("train", "val", "test")
            for lab in ("0_real", "1_fake")
        }
        assert counts[("train", "0_real")] == counts[("train", "1_fake")] == 6
        assert counts[("val", "0_real")] == 1
        assert counts[("test", "1_fake")] == 3
    real = Image.open(next((out / "upsample-nearest" / "train" / "0_real").glob("*.jpg")))
    fake = Image.open(next((out / "upsample-nearest" / "train" / "1_fake").glob("*.jpg")))
    assert (real.size, real.mode, real.format) == (fake.size, fake.mode, fake.format)
    assert real.quantization == fake.quantization  # type: ignore[attr-defined]


def test_deterministic(tmp_path: Path) -> None:
    src = _source(tmp_path, 30)
    a = build_resample_benchmark(src, tmp_path / "a", per_generator=10, progress=False)
    b = build_resample_benchmark(src, tmp_path / "b", per_generator=10, progress=False)
    assert _digest(a) == _digest(b) and len(_digest(a)) == 30


def test_nearest_kernel_leaves_2x2_blocks() -> None:
    img = Image.fromarray(np.random.default_rng(0).integers(0, 255, (8, 8, 3), dtype=np.uint8))
    out = np.asarray(resample_fake(img, Image.Resampling.NEAREST))
    assert (out[::2, ::2] == out[1::2, 1::2]).all()
    assert not (np.asarray(img)[::2, ::2] == np.asarray(img)[1::2, 1::2]).all()


def test_too_few_sources_says_how_many(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="30 are needed"):
        build_resample_benchmark(
            _source(tmp_path, 5), tmp_path / "b", per_generator=10, progress=False
        )
