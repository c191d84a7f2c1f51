"""Quality measurements: Frechet distance, real-vs-real floor, sample grids, FD features."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from fakescope.errors import DataError
from fakescope.forge import quality
from fakescope.forge.quality import (
    FD_DIM,
    disjoint_subsets,
    embed_for_fd,
    frechet_distance,
    frechet_distance_gaussians,
    gaussian_stats,
    grid_png_bytes,
    real_vs_real_distance,
    resize_center_crop,
    sample_grid,
)


def _nuclear_reference(a: np.ndarray, b: np.ndarray) -> float:
    """FD computed independently: Tr (Sa Sb)^(1/2) = nuclear norm of Xa_c Xb_c^T / sqrt((n-1)(m-1))."""
    xa, xb = a - a.mean(0), b - b.mean(0)
    tr_root = np.linalg.svd(xa @ xb.T, compute_uv=False).sum() / np.sqrt(
        (len(a) - 1) * (len(b) - 1)
    )
    diff = a.mean(0) - b.mean(0)
    var = (xa**2).sum() / (len(a) - 1) + (xb**2).sum() / (len(b) - 1)
    return float(diff @ diff + var - 2 * tr_root)


# ---------------------------------------------------------- Frechet distance
def test_fd_of_a_set_with_itself_is_zero() -> None:
    x = np.random.default_rng(0).normal(size=(200, 16))
    assert frechet_distance(x, x) == pytest.approx(0.0, abs=1e-8)


def test_fd_is_symmetric_and_matches_an_independent_formula() -> None:
    rng = np.random.default_rng(1)
    a = rng.normal(size=(300, 12)) @ rng.normal(size=(12, 12))
    b = rng.normal(0.3, 1.5, size=(250, 12))
    ab, ba = frechet_distance(a, b), frechet_distance(b, a)
    assert ab > 0.1
    assert ab == pytest.approx(ba, rel=1e-8)
    assert ab == pytest.approx(_nuclear_reference(a, b), rel=1e-8)


def test_fd_with_fewer_samples_than_dims_is_finite_and_correct() -> None:
    # N < D: both covariances are singular, as in small builds with 1280-d features.
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(20, 64)), rng.normal(0.1, 1.0, size=(20, 64))
    fd = frechet_distance(a, b)
    assert np.isfinite(fd)
    assert fd == pytest.approx(_nuclear_reference(a, b), rel=1e-6)


def test_fd_of_diagonal_gaussians_matches_the_closed_form() -> None:
    mu_a, mu_b = np.array([0.0, 1.0, -2.0]), np.array([1.0, 1.0, 0.5])
    var_a, var_b = np.array([1.0, 4.0, 0.25]), np.array([9.0, 1.0, 0.25])
    expected = ((mu_a - mu_b) ** 2).sum() + ((np.sqrt(var_a) - np.sqrt(var_b)) ** 2).sum()
    got = frechet_distance_gaussians(mu_a, np.diag(var_a), mu_b, np.diag(var_b))
    assert got == pytest.approx(expected, rel=1e-10)  # = 7.25 + 4 + 1 = 12.25


def test_fd_from_samples_approaches_the_closed_form() -> None:
    rng = np.random.default_rng(3)
    sd_a, sd_b = np.array([1.0, 2.0, 0.5]), np.array([2.0, 1.0, 0.5])
    a = rng.normal(0.0, sd_a, size=(20000, 3))
    b = rng.normal(1.0, sd_b, size=(20000, 3))
    expected = 3 * 1.0**2 + ((sd_a - sd_b) ** 2).sum()  # 3 + 2 = 5
    assert frechet_distance(a, b) == pytest.approx(expected, rel=0.03)


def test_fd_grows_with_a_mean_shift() -> None:
    x = np.random.default_rng(4).normal(size=(400, 8))
    y = np.random.default_rng(5).normal(size=(400, 8))
    fds = [frechet_distance(x, y + shift) for shift in (0.0, 0.5, 1.0, 2.0)]
    assert fds == sorted(fds)
    assert fds[-1] - fds[0] > 8 * 2.0**2 * 0.9  # the shift adds ~D * shift^2


def test_fd_of_singular_covariances_is_exact() -> None:
    # Rank-1 covariances on orthogonal axes: Tr (Sa Sb)^(1/2) = 0, so FD = Tr Sa + Tr Sb = 2.
    u, v = np.eye(4)[0], np.eye(4)[1]
    fd = frechet_distance_gaussians(np.zeros(4), np.outer(u, u), np.zeros(4), np.outer(v, v))
    assert fd == pytest.approx(2.0, abs=1e-9)


def test_fd_retries_with_an_offset_when_the_square_root_fails(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real_sqrtm = quality._sqrtm_checked
    products: list[np.ndarray] = []

    def flaky(prod: np.ndarray) -> tuple[np.ndarray, bool]:
        products.append(prod)
        if len(products) == 1:  # the plain product "fails" (as near-singular ones can)
            return np.full_like(prod, np.nan), False
        return real_sqrtm(prod)

    monkeypatch.setattr(quality, "_sqrtm_checked", flaky)
    var_a, var_b = np.array([1.0, 4.0]), np.array([4.0, 1.0])
    fd = frechet_distance_gaussians(np.zeros(2), np.diag(var_a), np.ones(2), np.diag(var_b))
    assert len(products) == 2
    added = np.diagonal(products[1] - products[0])
    assert (added > 0).all() and (added < 1e-4).all()  # a small eps * I was added
    assert fd == pytest.approx(2.0 + 2.0, rel=1e-4)  # closed form, up to the tiny offset


def test_fd_rejects_mismatched_or_invalid_features() -> None:
    with pytest.raises(ValueError, match="N, D"):
        frechet_distance(np.zeros((5, 3)), np.zeros((5, 4)))
    with pytest.raises(ValueError, match="N >= 2"):
        frechet_distance(np.zeros((1, 3)), np.zeros((5, 3)))
    bad = np.ones((4, 3))
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        frechet_distance(bad, np.ones((4, 3)))


# ------------------------------------------------------ real-vs-real floor
def test_real_vs_real_uses_disjoint_deterministic_sets() -> None:
    idx_a, idx_b = disjoint_subsets(50, 20, seed=7)
    assert len(idx_a) == len(idx_b) == 20
    assert not set(idx_a.tolist()) & set(idx_b.tolist())
    again = disjoint_subsets(50, 20, seed=7)
    assert np.array_equal(idx_a, again[0]) and np.array_equal(idx_b, again[1])
    assert not np.array_equal(idx_a, disjoint_subsets(50, 20, seed=8)[0])

    feats = np.random.default_rng(6).normal(size=(50, 4))
    rvr = real_vs_real_distance(feats, 20, seed=7)
    assert rvr == pytest.approx(frechet_distance(feats[idx_a], feats[idx_b]))
    assert rvr > 0  # two disjoint samples differ (a set with itself would give 0)


def test_real_vs_real_needs_two_n_reals() -> None:
    with pytest.raises(DataError, match="needs 2 x 30 = 60"):
        real_vs_real_distance(np.zeros((50, 4)), 30, seed=0)


# -------------------------------------------------------------- sample grids
def test_sample_grid_writes_png_of_expected_size(tmp_path: Path) -> None:
    images = torch.rand(10, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    out = sample_grid(images, tmp_path / "sub" / "grid.png", nrow=4, upscale_to=32)
    with Image.open(out) as img:
        assert img.format == "PNG" and img.mode == "RGB"
        # 4 columns x 3 rows of 32 px tiles, 2 px padding
        assert img.size == (4 * 34 + 2, 3 * 34 + 2)
        tile = np.asarray(img)[2:34, 2:34]
    expected = (images[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    assert np.array_equal(tile[::2, ::2], expected)  # nearest 2x upscale keeps pixels
    assert list(tmp_path.joinpath("sub").iterdir()) == [out]  # no temp file left


def test_sample_grid_accepts_pil_images_and_matches_bytes(tmp_path: Path) -> None:
    pil = [Image.new("RGB", (20, 10), (i * 40, 0, 0)) for i in range(3)]
    out = sample_grid(pil, tmp_path / "g.png", nrow=8)
    with Image.open(out) as img:
        assert img.size == (3 * 22 + 2, 10 + 4)
        assert img.getpixel((2 + 22 * 2, 2)) == (80, 0, 0)
    assert out.read_bytes() == grid_png_bytes(pil, nrow=8)
    assert grid_png_bytes(pil).startswith(b"\x89PNG")


def test_sample_grid_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "grid.png"
    target.write_bytes(b"previous")

    def failing_replace(self: Path, dst: object) -> Path:
        raise OSError("disk full")

    monkeypatch.setattr(Path, "replace", failing_replace)
    with pytest.raises(OSError, match="disk full"):
        sample_grid(torch.rand(2, 3, 8, 8), target)
    assert target.read_bytes() == b"previous"  # the old file is untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["grid.png"]  # temp removed


def test_sample_grid_rejects_bad_input(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no images"):
        sample_grid([], tmp_path / "g.png")
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        sample_grid(torch.full((1, 3, 4, 4), 2.0), tmp_path / "g.png")
    assert not (tmp_path / "g.png").exists()


# ---------------------------------------------------------------- features
def test_resize_center_crop_matches_eval_geometry() -> None:
    x = torch.rand(2, 3, 40, 60)
    out = resize_center_crop(x, 24)
    assert out.shape == (2, 3, 24, 24)
    same = torch.rand(1, 3, 24, 24)
    assert torch.equal(resize_center_crop(same, 24), same)


def test_embed_for_fd_files_and_tensors_agree(tmp_path: Path, make_image: object) -> None:
    paths = [make_image(tmp_path / f"{i}.png", seed=i, size=32, fmt="PNG") for i in range(3)]  # type: ignore[operator]
    tensors = (
        torch.stack(
            [
                torch.from_numpy(np.array(Image.open(p).convert("RGB"))).permute(2, 0, 1)
                for p in paths
            ]
        ).float()
        / 255.0
    )

    from_files = embed_for_fd(paths, batch_size=2, num_workers=0)
    from_tensor = embed_for_fd(tensors, batch_size=2)
    assert from_files.shape == from_tensor.shape == (3, FD_DIM)
    assert from_files.dtype == np.float32 and np.isfinite(from_files).all()
    # same images, preprocessed by PIL (uint8) vs torch (float): nearly the same features
    for f, t in zip(from_files, from_tensor, strict=True):
        cos = float(f @ t / (np.linalg.norm(f) * np.linalg.norm(t)))
        assert cos > 0.995
    # ... and much closer to each other than to the other images
    assert np.linalg.norm(from_files[0] - from_tensor[0]) < 0.3 * np.linalg.norm(
        from_files[0] - from_files[1]
    )
    assert quality.fd_backbone() is quality.fd_backbone()  # built once per process


def test_embed_for_fd_reports_undecodable_files(tmp_path: Path) -> None:
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    with pytest.raises(DataError, match="1 of 1 images could not be decoded"):
        embed_for_fd([bad], num_workers=0)


def test_gaussian_stats_shapes() -> None:
    mu, cov = gaussian_stats(np.random.default_rng(0).normal(size=(10, 5)))
    assert mu.shape == (5,) and cov.shape == (5, 5) and cov.dtype == np.float64
    assert np.allclose(cov, cov.T)


def test_low_rank_path_equals_the_matrix_square_root() -> None:
    from fakescope.forge.quality import (
        _frechet_distance_low_rank,
        frechet_distance_gaussians,
        gaussian_stats,
    )

    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(12, 40)), rng.normal(0.3, 1.5, size=(9, 40))
    exact = frechet_distance_gaussians(*gaussian_stats(a), *gaussian_stats(b))
    assert _frechet_distance_low_rank(a, b) == pytest.approx(exact, rel=1e-6)
    assert frechet_distance(a, b) == pytest.approx(exact, rel=1e-6)  # N, M < D takes that path
