"""Synthetic outliers: each transform damages images in its own characteristic way, seeded."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from scipy.ndimage import gaussian_filter

from fakescope.data.outliers import DEFAULT_KINDS, OUTLIERS, make_outliers
from fakescope.errors import ConfigError, DataError
from tests.conftest import write_image


def textured(size: int = 64, seed: int = 0) -> np.ndarray:
    """Float image [H, W, 3] in [0.2, 0.8]: fine random texture (lots of high frequencies)."""
    rng = np.random.default_rng(seed)
    return (0.2 + 0.6 * rng.random((size, size, 3))).astype(np.float32)


def smooth(size: int = 64, seed: int = 0) -> np.ndarray:
    """Float image [H, W, 3] in (0, 1): blurred noise (no block structure of its own)."""
    rng = np.random.default_rng(seed)
    x = gaussian_filter(rng.random((size, size, 3)), sigma=(3, 3, 0))
    x = (x - x.min()) / (x.max() - x.min())
    return (0.1 + 0.8 * x).astype(np.float32)


def to_pil(x: np.ndarray) -> Image.Image:
    return Image.fromarray(np.round(x * 255).astype(np.uint8))


def as_array(img: Image.Image) -> np.ndarray:
    return np.asarray(img, dtype=np.float32) / 255.0


def hf_energy(x: np.ndarray) -> float:
    """Mean squared discrete Laplacian (high-frequency energy)."""
    lap = 4 * x[1:-1, 1:-1] - x[:-2, 1:-1] - x[2:, 1:-1] - x[1:-1, :-2] - x[1:-1, 2:]
    return float((lap**2).mean())


def blockiness(x: np.ndarray) -> float:
    """Mean |horizontal + vertical step| across 8-px block borders / the same inside blocks."""
    dx = np.abs(np.diff(x, axis=1)).mean(axis=(0, 2))  # [W-1]: step between column c and c+1
    dy = np.abs(np.diff(x, axis=0)).mean(axis=(1, 2))
    border = np.arange(len(dx)) % 8 == 7
    return float(
        (dx[border].mean() + dy[border].mean()) / (dx[~border].mean() + dy[~border].mean())
    )


def apply(kind: str, x: np.ndarray, seed: int = 0) -> np.ndarray:
    return as_array(OUTLIERS.get(kind)(to_pil(x), np.random.default_rng(seed)))


def test_registry_holds_the_five_thesis_transforms() -> None:
    assert set(DEFAULT_KINDS) == set(OUTLIERS.names())
    assert len(DEFAULT_KINDS) == 5


def test_blur_removes_high_frequencies() -> None:
    x = textured()
    y = apply("gaussian_blur", x)
    assert hf_energy(y) < 0.02 * hf_energy(x)
    assert abs(y.mean() - x.mean()) < 0.02  # a blur keeps the mean brightness


def test_additive_noise_is_zero_mean_with_std_0_1() -> None:
    x = np.full((64, 64, 3), 0.5, np.float32)
    d = apply("additive_noise", x) - x
    assert abs(d.mean()) < 0.01
    assert 0.085 < d.std() < 0.115


def test_multiplicative_noise_scales_by_0_9_to_1_2() -> None:
    x = np.full((64, 64, 3), 0.6, np.float32)
    ratio = apply("multiplicative_noise", x) / x
    assert ratio.min() > 0.88 and ratio.max() < 1.22
    assert abs(ratio.mean() - 1.05) < 0.01  # mean of U(0.9, 1.2)
    assert ratio.std() > 0.07  # spread of U(0.9, 1.2) is 0.087


def test_rotation_moves_the_content_by_90_degrees() -> None:
    x = smooth()
    y = apply("rotate90_noise", x)
    err_to_rot = min(np.abs(y - np.rot90(x, k, axes=(0, 1))).mean() for k in (1, 3))
    assert err_to_rot < 0.06  # only the 0.05-std noise is left
    assert np.abs(y - x).mean() > 2 * err_to_rot
    rect = Image.new("RGB", (40, 24), (200, 10, 10))
    assert OUTLIERS.get("rotate90_noise")(rect, np.random.default_rng(0)).size == (40, 24)


def test_jpeg10_makes_8x8_blocks() -> None:
    x = smooth(seed=3)
    assert blockiness(x) < 1.2
    y = apply("jpeg10", x)
    assert blockiness(y) > 1.5
    assert np.abs(y - x).mean() > 0.005


def test_transforms_are_deterministic_given_a_seed() -> None:
    x = textured()
    for kind in DEFAULT_KINDS:
        assert np.array_equal(apply(kind, x, seed=7), apply(kind, x, seed=7)), kind
    for kind in ("additive_noise", "multiplicative_noise", "rotate90_noise"):
        assert not np.array_equal(apply(kind, x, seed=7), apply(kind, x, seed=8)), kind


def test_tensors_in_tensors_out_same_shape() -> None:
    x = torch.from_numpy(smooth(32)).permute(2, 0, 1)
    batch = torch.stack([x, x.flip(-1)])
    for kind in DEFAULT_KINDS:
        one = OUTLIERS.get(kind)(x, np.random.default_rng(0))
        assert isinstance(one, torch.Tensor) and one.shape == x.shape and one.dtype == x.dtype
        assert float(one.min()) >= 0.0 and float(one.max()) <= 1.0
        assert not torch.equal(one, x), kind
        many = OUTLIERS.get(kind)(batch, np.random.default_rng(0))
        assert many.shape == batch.shape
    rough = torch.from_numpy(textured(32)).permute(2, 0, 1)
    blurred = OUTLIERS.get("gaussian_blur")(rough, np.random.default_rng(0))
    assert hf_energy(blurred.permute(1, 2, 0).numpy()) < 0.02 * hf_energy(textured(32))
    with pytest.raises(TypeError, match="PIL image or a tensor"):
        OUTLIERS.get("jpeg10")(np.zeros((8, 8, 3)), np.random.default_rng(0))  # type: ignore[type-var]


def test_make_outliers_cycles_kinds_seeded_and_appends_real_folders(tmp_path: Path) -> None:
    ids = [to_pil(textured(32, seed=s)) for s in range(6)]
    paths = [write_image(tmp_path / "id" / f"{i}.png", seed=i, fmt="PNG") for i in range(2)]
    real = tmp_path / "other_gen"
    for i in range(3):
        write_image(real / "sub" / f"{i}.jpg", seed=50 + i)
    a = make_outliers([*ids, *paths], seed=1, per_image=2, real_folders=[real])
    b = make_outliers([*ids, *paths], seed=1, per_image=2, real_folders=[real])
    assert len(a) == 8 * 2 + 3
    assert a.kinds[:6] == [*DEFAULT_KINDS, DEFAULT_KINDS[0]]
    assert a.sources[:4] == [0, 0, 1, 1] and a.kinds[-3:] == ["real"] * 3
    assert a.sources[-1] == -1 and len(a.real_paths) == 3
    assert all(
        np.array_equal(np.asarray(p), np.asarray(q))
        for p, q in zip(a.images, b.images, strict=True)
    )
    c = make_outliers(ids, seed=2, kinds=["additive_noise"])
    assert not np.array_equal(np.asarray(c.images[0]), np.asarray(a.images[2]))
    assert all(img.size == (32, 32) for img in a.images[:12])
    assert len(make_outliers(ids[:1], real_folders=[real], max_real=1)) == 2


def test_bad_settings_are_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"unknown outlier transform.*choose from"):
        make_outliers([], kinds=["blurr"])
    with pytest.raises(ConfigError, match="empty"):
        make_outliers([], kinds=[])
    with pytest.raises(DataError, match="does not exist"):
        make_outliers([], real_folders=[tmp_path / "nope"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="holds no images"):
        make_outliers([], real_folders=[tmp_path / "empty"])
