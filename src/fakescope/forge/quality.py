"""Quality of a benchmark's fakes: Frechet distance on EfficientNet-Lite0 features, sample grids.

* :func:`embed_for_fd` - pooled ImageNet EfficientNet-Lite0 features [N, 1280]
  (the packaged weights, offline) of image files or of float tensors in [0, 1];
* :func:`frechet_distance` - the Frechet distance between Gaussians fitted to two
  feature sets (FID's formula, on Lite0 features instead of Inception's);
  **lower = the two sets are closer**;
* :func:`real_vs_real_distance` - the same distance between two disjoint real sets
  of a given size: the floor a generator's distance is read against;
* :func:`sample_grid` / :func:`grid_png_bytes` - a PNG grid of samples (a file
  written atomically, or bytes to embed into the build's HTML summary).

Reading the Frechet distance: with few samples (N below the feature dimension
D = 1280, as in every small build) the fitted covariances are rank-deficient
and the estimate is **biased upward**, by an amount that depends on N. Two
distances are therefore only comparable when computed from sets of the same
sizes. That is why the builder reports each generator's distance (n fakes vs n
test reals) next to :func:`real_vs_real_distance` of two disjoint real sets of
the same size n: a generator whose distance approaches that floor makes fakes
the features cannot tell from reals.
"""

from __future__ import annotations

import functools
import io
import math
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from fakescope.data.loader import run_batches
from fakescope.data.transforms import eval_transform
from fakescope.errors import DataError
from fakescope.fileio import atomic_write_bytes
from fakescope.models.backbone import Backbone
from fakescope.models.catalog import create_backbone
from fakescope.progress import progress_bar

#: The backbone whose pooled features the Frechet distance is computed on.
FD_BACKBONE = "efficientnet_lite0"
#: Dimension of :func:`embed_for_fd`'s features.
FD_DIM = 1280

ImagesIn = Sequence[str | Path] | torch.Tensor


# ------------------------------------------------------------------ features
@functools.lru_cache(maxsize=4)
def fd_backbone(device: str = "cpu") -> Backbone:
    """The frozen EfficientNet-Lite0 (packaged ImageNet weights) on ``device``; built once per process."""
    backbone = create_backbone(FD_BACKBONE, pretrained=True, trainable=False)
    return backbone.to(torch.device(device)).eval()


def _check_image_tensor(x: torch.Tensor) -> None:
    if x.ndim != 4 or x.shape[1] != 3 or not x.is_floating_point():
        raise ValueError(f"expected a float tensor [N, 3, H, W], got {x.dtype} {tuple(x.shape)}")
    if x.numel() and (float(x.min()) < -1e-6 or float(x.max()) > 1 + 1e-6):
        raise ValueError("image tensors must hold values in [0, 1]; clamp them first")


def resize_center_crop(x: torch.Tensor, size: int) -> torch.Tensor:
    """Images [B, 3, H, W] -> [B, 3, size, size]: shorter side to ``size`` (bilinear, antialias), centre crop.

    The tensor counterpart of :func:`~fakescope.data.transforms.eval_transform`'s geometry.
    """
    h, w = int(x.shape[-2]), int(x.shape[-1])
    short, long = min(h, w), max(h, w)
    new_short, new_long = size, int(size * long / short)
    new_h, new_w = (new_short, new_long) if h <= w else (new_long, new_short)
    if (new_h, new_w) != (h, w):
        x = F.interpolate(
            x, size=(new_h, new_w), mode="bilinear", align_corners=False, antialias=True
        )
    top = round((new_h - size) / 2.0)
    left = round((new_w - size) / 2.0)
    return x[..., top : top + size, left : left + size]


def embed_for_fd(
    images: ImagesIn,
    *,
    batch_size: int = 64,
    progress: str | None = None,
    device: str = "cpu",
    num_workers: int | None = None,
) -> np.ndarray:
    """Pooled EfficientNet-Lite0 features, float32 [N, 1280], for the Frechet distance.

    ``images``: a list of N image file paths (decoded and preprocessed like every
    fakescope input: shorter side to 224 px, centre crop, ImageNet mean/std), or a
    float tensor [N, 3, H, W] in [0, 1] (resized the same way with bilinear
    antialiased interpolation). ``progress``: a description to show a progress bar.
    A file that cannot be decoded raises :class:`~fakescope.errors.DataError`.
    """
    backbone = fd_backbone(device)
    cfg = backbone.input_config
    dev = torch.device(device)

    @torch.inference_mode()
    def forward(x: torch.Tensor) -> np.ndarray:
        out = backbone.forward_features(x.to(dev, torch.float32))
        return out.float().cpu().numpy()

    if isinstance(images, torch.Tensor):
        _check_image_tensor(images)
        mean = torch.tensor(cfg.mean, dtype=torch.float32).view(1, 3, 1, 1)
        std = torch.tensor(cfg.std, dtype=torch.float32).view(1, 3, 1, 1)
        feats = np.empty((len(images), backbone.feature_dim), dtype=np.float32)
        with progress_bar(len(images), progress) as advance:
            for start in range(0, len(images), batch_size):
                chunk = images[start : start + batch_size].detach().to("cpu", torch.float32)
                x = (resize_center_crop(chunk, cfg.size) - mean) / std
                feats[start : start + len(chunk)] = forward(x)
                advance(len(chunk))
        return feats

    paths = [str(p) for p in images]
    feats, errors = run_batches(
        paths,
        eval_transform(cfg),
        (3, cfg.size, cfg.size),
        forward,
        backbone.feature_dim,
        batch_size=batch_size,
        num_workers=num_workers,
        progress=progress,
    )
    failed = [e for e in errors if e]
    if failed:
        raise DataError(
            f"{len(failed)} of {len(paths)} images could not be decoded for the Frechet "
            f"distance (first: {failed[0]}); remove or re-encode them"
        )
    return feats


# ---------------------------------------------------------- Frechet distance
def _checked_features(features: np.ndarray) -> np.ndarray:
    """``features`` as float64 [N, D] with N >= 2 and only finite values (else ValueError)."""
    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 2:
        raise ValueError(f"need features [N, D] with N >= 2, got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError("features contain NaN or infinite values")
    return x


def gaussian_stats(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean [D] and unbiased covariance [D, D] (float64) of ``features`` [N, D], N >= 2."""
    x = _checked_features(features)
    mu = x.mean(axis=0)
    xc = x - mu
    cov = xc.T @ xc / (x.shape[0] - 1)
    return mu, cov


def _sqrtm_checked(prod: np.ndarray) -> tuple[np.ndarray, bool]:
    """scipy's square root of ``prod`` and whether it is trustworthy (finite, accurate, ~real)."""
    from scipy.linalg import LinAlgWarning, sqrtm

    with warnings.catch_warnings():  # singular products are detected and handled below
        warnings.simplefilter("ignore", LinAlgWarning)
        root = np.asarray(sqrtm(prod))
    if not np.isfinite(root).all():
        return root, False
    scale = max(float(np.linalg.norm(prod)), 1e-300)
    residual = float(np.linalg.norm(root @ root - prod)) / scale
    return root, residual < 1e-6


def frechet_distance_gaussians(
    mu_a: np.ndarray,
    cov_a: np.ndarray,
    mu_b: np.ndarray,
    cov_b: np.ndarray,
    *,
    eps: float = 1e-6,
    imag_tol: float = 1e-3,
) -> float:
    """``||mu_a - mu_b||^2 + Tr(Sa + Sb - 2 (Sa Sb)^(1/2))`` for Gaussians N(mu, S), in float64.

    The matrix square root is :func:`scipy.linalg.sqrtm`. When it fails on a
    (near-)singular product (non-finite, inaccurate or clearly complex), it is
    recomputed with ``eps`` times the mean variance added to both diagonals.
    Imaginary parts left by rounding are discarded after checking they are tiny
    (at most ``imag_tol`` relative to the diagonal); larger ones raise ValueError.
    Returns a distance >= 0 (rounding below 0 is clipped); lower = closer.
    """
    mu_a, mu_b = np.asarray(mu_a, np.float64), np.asarray(mu_b, np.float64)
    cov_a, cov_b = np.atleast_2d(cov_a).astype(np.float64), np.atleast_2d(cov_b).astype(np.float64)
    if mu_a.shape != mu_b.shape or cov_a.shape != cov_b.shape or cov_a.shape != mu_a.shape * 2:
        raise ValueError(
            f"mismatched statistics: means {mu_a.shape} / {mu_b.shape}, "
            f"covariances {cov_a.shape} / {cov_b.shape}"
        )
    root, ok = _sqrtm_checked(cov_a @ cov_b)
    if not ok or _imag_ratio(root) > imag_tol:
        dim = cov_a.shape[0]
        scale = (np.trace(cov_a) + np.trace(cov_b)) / (2 * dim)
        offset = eps * (scale if scale > 0 else 1.0) * np.eye(dim)
        root, _ = _sqrtm_checked((cov_a + offset) @ (cov_b + offset))
    if not np.isfinite(root).all():
        raise ValueError("the Frechet distance is undefined: covariance square root is not finite")
    ratio = _imag_ratio(root)
    if ratio > imag_tol:
        raise ValueError(
            f"the covariance square root has a large imaginary part ({ratio:.2g} of its "
            "diagonal); the features are degenerate"
        )
    diff = mu_a - mu_b
    value = diff @ diff + np.trace(cov_a) + np.trace(cov_b) - 2.0 * np.trace(root.real)
    return max(float(value), 0.0)


def _imag_ratio(root: np.ndarray) -> float:
    """Largest imaginary part on the diagonal of ``root``, relative to its largest real part."""
    if not np.iscomplexobj(root):
        return 0.0
    diag = np.diagonal(root)
    return float(np.abs(diag.imag).max() / max(float(np.abs(diag.real).max()), 1e-12))


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Frechet distance between Gaussians fitted to features ``a`` [N, D] and ``b`` [M, D].

    Symmetric, 0 for identical sets, lower = closer. With N or M below D the
    estimate is biased upward and depends on the set sizes: compare distances
    only between sets of equal sizes (see the module docstring).
    """
    if np.ndim(a) != 2 or np.ndim(b) != 2 or np.shape(a)[1] != np.shape(b)[1]:
        raise ValueError(f"need features [N, D] and [M, D], got {np.shape(a)} and {np.shape(b)}")
    if min(len(a), len(b)) >= np.shape(a)[1]:
        return frechet_distance_gaussians(*gaussian_stats(a), *gaussian_stats(b))
    return _frechet_distance_low_rank(_checked_features(a), _checked_features(b))


def _frechet_distance_low_rank(a: np.ndarray, b: np.ndarray) -> float:
    """The same distance via the samples when N or M < D (no D x D matrix square root).

    With centred ``A`` [N, D] and ``B`` [M, D], Sa = A^T A / (N-1) and
    Sb = B^T B / (M-1), the non-zero eigenvalues of Sa Sb are the squared
    singular values of A B^T / sqrt((N-1)(M-1)), so Tr((Sa Sb)^(1/2)) is that
    matrix's nuclear norm: one N x M SVD instead of a D x D ``sqrtm``.
    """
    ca, cb = a - a.mean(axis=0), b - b.mean(axis=0)
    scale = np.sqrt((len(a) - 1) * (len(b) - 1))
    cross = np.linalg.svd(ca @ cb.T / scale, compute_uv=False).sum()
    trace_a = float((ca * ca).sum() / (len(a) - 1))
    trace_b = float((cb * cb).sum() / (len(b) - 1))
    mean_term = float(((a.mean(axis=0) - b.mean(axis=0)) ** 2).sum())
    return max(0.0, mean_term + trace_a + trace_b - 2.0 * float(cross))


def disjoint_subsets(n_total: int, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Two disjoint random index sets [n] each out of ``range(n_total)`` (needs 2n <= n_total)."""
    if n < 2:
        raise ValueError(f"each set needs at least 2 samples, got n={n}")
    if 2 * n > n_total:
        raise DataError(
            f"the real-vs-real distance needs 2 x {n} = {2 * n} real images, got {n_total}; "
            "use more reals or a smaller n"
        )
    order = np.random.default_rng(seed).permutation(n_total)
    return np.sort(order[:n]), np.sort(order[n : 2 * n])


def real_vs_real_distance(features_of_reals: np.ndarray, n: int, seed: int) -> float:
    """Frechet distance between two disjoint random sets of ``n`` reals each (features [N, D]).

    The reference for a generator's distance computed from ``n`` fakes vs ``n`` reals
    (same n: the estimate depends on the set size). Deterministic for a given ``seed``.
    """
    feats = np.asarray(features_of_reals)
    idx_a, idx_b = disjoint_subsets(len(feats), n, seed)
    return frechet_distance(feats[idx_a], feats[idx_b])


# -------------------------------------------------------------- sample grids
def _as_tensor(images: torch.Tensor | Sequence[Image.Image]) -> list[torch.Tensor]:
    if isinstance(images, torch.Tensor):
        _check_image_tensor(images)
        return list(images.detach().to("cpu", torch.float32))
    out = []
    for img in images:
        arr = np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0
        out.append(torch.from_numpy(arr).permute(2, 0, 1))
    return out


def _fit(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Resize [3, H, W] to ``size``: nearest when enlarging (keeps pixel traces), else antialiased."""
    if tuple(x.shape[-2:]) == size:
        return x
    if size[0] >= x.shape[-2] and size[1] >= x.shape[-1]:
        return F.interpolate(x[None], size=size, mode="nearest")[0]
    return F.interpolate(x[None], size=size, mode="bilinear", antialias=True)[0]


def grid_image(
    images: torch.Tensor | Sequence[Image.Image],
    *,
    nrow: int = 8,
    upscale_to: int | None = None,
    padding: int = 2,
) -> Image.Image:
    """A grid of ``images`` ([N, 3, H, W] in [0, 1], or N PIL images) as one RGB image.

    ``nrow`` images per row; each tile has the first image's size, or height
    ``upscale_to`` px (width by aspect ratio). ``padding`` px of white around tiles.
    Size: ``cols * (w + padding) + padding`` by ``rows * (h + padding) + padding``.
    """
    tiles = _as_tensor(images)
    if not tiles:
        raise ValueError("sample grid: no images given")
    if nrow < 1 or padding < 0:
        raise ValueError(f"sample grid: need nrow >= 1 and padding >= 0, got {nrow}, {padding}")
    h, w = int(tiles[0].shape[-2]), int(tiles[0].shape[-1])
    if upscale_to is not None:
        h, w = int(upscale_to), max(1, round(upscale_to * w / h))
    cols = min(nrow, len(tiles))
    rows = math.ceil(len(tiles) / cols)
    canvas = torch.ones(3, rows * (h + padding) + padding, cols * (w + padding) + padding)
    for i, tile in enumerate(tiles):
        top = padding + (i // cols) * (h + padding)
        left = padding + (i % cols) * (w + padding)
        canvas[:, top : top + h, left : left + w] = _fit(tile, (h, w)).clamp(0, 1)
    arr = (canvas.permute(1, 2, 0).numpy() * 255.0).round().astype(np.uint8)
    return Image.fromarray(arr, mode="RGB")


def grid_png_bytes(
    images: torch.Tensor | Sequence[Image.Image],
    *,
    nrow: int = 8,
    upscale_to: int | None = None,
    padding: int = 2,
) -> bytes:
    """:func:`grid_image` encoded as PNG bytes (e.g. base64 into an HTML page); deterministic."""
    buf = io.BytesIO()
    grid_image(images, nrow=nrow, upscale_to=upscale_to, padding=padding).save(buf, format="PNG")
    return buf.getvalue()


def sample_grid(
    images: torch.Tensor | Sequence[Image.Image],
    path: str | Path,
    *,
    nrow: int = 8,
    upscale_to: int | None = None,
    padding: int = 2,
) -> Path:
    """Write :func:`grid_image` to ``path`` as PNG, atomically (temp file + rename); returns the path."""
    data = grid_png_bytes(images, nrow=nrow, upscale_to=upscale_to, padding=padding)
    return atomic_write_bytes(path, data)
