"""Sharpness per image (a real-vs-fake shortcut check).

A reconstruction by a VAE decoder (or most generators' outputs) is slightly
blurrier than the photo it came from. A detector can learn "blurry = fake",
which says nothing about generator traces and breaks on sharpened fakes or
soft photos.

Per image: the **high-frequency energy ratio** of the luminance's centre
:data:`CROP` px crop - the share of the (Hann-windowed, mean-removed) power
spectrum above :data:`CUTOFF` cycles / px, as ``log10``. Independent of
contrast and brightness; higher = sharper (more fine detail or noise), lower
= blurrier. Per source, :func:`fakescope.data.pixels.compare` gives the
real-vs-fake AUC; ``sharpness`` is flagged when ``|AUC - 0.5| >=``
:data:`FLAG_MARGIN` with at least :data:`~fakescope.data.pixels.MIN_IMAGES`
images per class.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fakescope.data.pixels import centre_crop, read_luma

#: Side of the centre crop (px; smaller images use what fits).
CROP = 256
#: Radial frequency (cycles / px, Nyquist = 0.5) above which energy counts as high.
CUTOFF = 0.25
#: ``sharpness`` flags when ``|AUC - 0.5|`` reaches this (AUC 0.65 or 0.35).
FLAG_MARGIN = 0.15
#: Name of the per-image score.
SHARPNESS = "sharpness"


def high_frequency_ratio(luma: np.ndarray, *, cutoff: float = CUTOFF) -> float:
    """``log10`` share of the spectral energy of ``luma`` [H, W] above ``cutoff`` cycles / px.

    The DC term is excluded (mean removed, Hann window against edge leakage).
    Higher = sharper. NaN for images under 8 px or flat ones.
    """
    h, w = luma.shape
    if min(h, w) < 8:
        return float("nan")
    window = np.outer(np.hanning(h), np.hanning(w))
    x = (luma - luma.mean()) * window
    power = np.abs(np.fft.rfft2(x)) ** 2
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.rfftfreq(w)[None, :]
    radius = np.sqrt(fy**2 + fx**2)
    total = power[radius > 0].sum()
    high = power[radius > cutoff].sum()
    if total <= 0 or high <= 0:
        return float("nan")
    return float(np.log10(high / total))


def image_sharpness(path: str | Path, *, crop: int = CROP) -> float:
    """:func:`high_frequency_ratio` of one file's luminance centre crop.

    Raises :class:`~fakescope.errors.DecodeError` for an undecodable file.
    """
    return high_frequency_ratio(centre_crop(read_luma(path), crop))
