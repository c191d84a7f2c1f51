"""Synthetic photo-like images and two-class datasets for the pixel-audit tests."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

Transform = Callable[[Image.Image], Image.Image]


def photo(seed: int, size: int = 96, beta: float = 1.5) -> Image.Image:
    """A smooth random RGB field (amplitude ~ 1 / f**beta) with mild sensor noise, never compressed."""
    rng = np.random.default_rng(seed)
    f = np.fft.fftfreq(size)
    radius = np.sqrt(f[:, None] ** 2 + f[None, :] ** 2)
    radius[0, 0] = 1.0
    channels = []
    for _ in range(3):
        spec = rng.normal(size=(size, size)) + 1j * rng.normal(size=(size, size))
        x = np.real(np.fft.ifft2(spec / radius**beta))
        channels.append((x - x.mean()) / x.std())
    x = np.stack(channels, axis=-1)
    x = 0.5 * x + 0.5 * x.mean(axis=-1, keepdims=True)  # correlated colours, like photos
    x = 128.0 + 40.0 * x + rng.normal(0.0, 2.0, x.shape)
    return Image.fromarray(np.clip(x, 0, 255).astype(np.uint8))


def jpeg(img: Image.Image, quality: int) -> Image.Image:
    """``img`` after a JPEG round trip at ``quality`` (decoded back to RGB pixels)."""
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=quality)
    buf.seek(0)
    with Image.open(buf) as out:
        return out.convert("RGB")


def blur(img: Image.Image, radius: float = 1.0) -> Image.Image:
    """A smooth-pass (Gaussian) version of ``img``."""
    return img.filter(ImageFilter.GaussianBlur(radius))


def half(img: Image.Image) -> Image.Image:
    """``img`` down-scaled x0.5 with an antialiasing filter."""
    return img.resize((img.width // 2, img.height // 2), Image.Resampling.LANCZOS)


def eight_px_grid(img: Image.Image, amplitude: float = 6.0) -> Image.Image:
    """``img`` plus a periodic 8-px pattern (like a latent decoder's up-sampling grid)."""
    a = np.asarray(img, dtype=np.float64)
    tile = np.zeros((8, 8))
    tile[::4, ::4] = amplitude
    pattern = np.tile(tile, (a.shape[0] // 8 + 1, a.shape[1] // 8 + 1))[: a.shape[0], : a.shape[1]]
    return Image.fromarray(np.clip(a + pattern[..., None], 0, 255).astype(np.uint8))


def write_two_class(
    root: Path,
    real: Transform,
    fake: Transform,
    *,
    n: int = 24,
    size: int = 96,
    fmt: str = "PNG",
    quality: int = 90,
) -> Path:
    """``root/gen/{0_real,1_fake}`` with ``n`` images each (different content per image).

    Each image is :func:`photo` passed through ``real`` or ``fake``, then saved
    as ``fmt`` (PNG: lossless; JPEG at ``quality``). Returns ``root``.
    """
    ext = "png" if fmt == "PNG" else "jpg"
    for label, fn, offset in (("0_real", real, 0), ("1_fake", fake, 1000)):
        folder = root / "gen" / label
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(n):
            img = fn(photo(offset + i, size))
            img.save(folder / f"{i:03d}.{ext}", format=fmt, quality=quality)
    return root
