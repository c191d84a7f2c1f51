"""Image degradations shared by training augmentation and robustness evaluation.

Each function maps an RGB PIL image to a degraded RGB PIL image of the same size
(``downscale`` restores the size so the model input is unchanged).
"""

from __future__ import annotations

import io

from PIL import Image, ImageFilter


def jpeg(img: Image.Image, quality: int) -> Image.Image:
    """Re-encode as JPEG at ``quality`` (1-95) and decode again."""
    if not 1 <= quality <= 100:
        raise ValueError(f"JPEG quality must be in [1, 100], got {quality}")
    buf = io.BytesIO()
    img.convert("RGB").save(buf, format="JPEG", quality=int(quality))
    buf.seek(0)
    with Image.open(buf) as out:
        return out.convert("RGB")


def blur(img: Image.Image, sigma: float) -> Image.Image:
    """Gaussian blur with standard deviation ``sigma`` pixels (0 = unchanged)."""
    if sigma < 0:
        raise ValueError(f"blur sigma must be >= 0, got {sigma}")
    if sigma == 0:
        return img
    return img.filter(ImageFilter.GaussianBlur(radius=float(sigma)))


def downscale(img: Image.Image, factor: float) -> Image.Image:
    """Downscale by ``factor`` (0 < factor <= 1, bilinear) and upscale back to the original size."""
    if not 0 < factor <= 1:
        raise ValueError(f"downscale factor must be in (0, 1], got {factor}")
    if factor == 1:
        return img
    w, h = img.size
    small = img.resize(
        (max(1, round(w * factor)), max(1, round(h * factor))), Image.Resampling.BILINEAR
    )
    return small.resize((w, h), Image.Resampling.BILINEAR)
