"""Fingerprint spectra: the average Fourier spectrum of noise residuals, per generator.

Up-sampling layers (transposed convolutions, nearest / bilinear resizing, a
VAE decoder's 8-px latent grid) leave periodic traces that are hard to see in
an image but show as bright peaks in the spectrum of its noise residual,
averaged over many images (the content averages out, the trace does not).

Per image: luminance, the centre :data:`CROP` px crop (images smaller than
the crop are skipped and counted), residual = image - its 3x3 median filter,
then ``log(|FFT| + 1e-3)`` of the Hann-windowed residual, centred (``fftshift``: zero
frequency in the middle, Nyquist at the edges). Per group - all reals as
"real", each fake generator by name - the mean of those spectra over at most
``max_images`` images (seeded sample). :func:`noise_spectra` returns the
arrays; :func:`plot_spectra` draws them side by side into a PNG (written
atomically).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.ndimage import median_filter

from fakescope.data.pixels import centre_crop, read_luma, sample_per_group
from fakescope.data.schema import GENERATOR, LABEL
from fakescope.errors import DataError, DecodeError
from fakescope.fileio import atomic_path

#: Side of the centre crop whose residual spectrum is taken (px).
CROP = 256
#: Images per group averaged, at most (seeded sample).
MAX_IMAGES = 200
#: Name of the group of every real image.
REAL = "real"


@dataclass
class Spectra:
    """Mean centred log-magnitude residual spectra per group.

    ``spectra[group]`` is float64 [crop, crop], zero frequency at index
    ``crop // 2``; ``counts[group]`` the images averaged, ``skipped[group]`` the
    images too small or undecodable.
    """

    crop: int
    spectra: dict[str, np.ndarray] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)


def residual_spectrum(luma: np.ndarray) -> np.ndarray:
    """Centred ``log(|FFT| + 1e-3)`` of the 3x3-median noise residual of ``luma`` [H, W] -> [H, W].

    The residual is Hann-windowed first, so the crop's borders do not draw a
    bright cross through the centre.
    """
    h, w = luma.shape
    residual = luma - median_filter(luma, size=3, mode="reflect")
    windowed = residual * np.outer(np.hanning(h), np.hanning(w))
    return np.asarray(np.fft.fftshift(np.log(np.abs(np.fft.fft2(windowed)) + 1e-3)))


def _groups(table: pd.DataFrame) -> pd.Series:
    """ "real" for every real row, else the row's generator (name of its group)."""
    gens = table[GENERATOR].astype(str) if GENERATOR in table else pd.Series("fake", table.index)
    return gens.where(table[LABEL].to_numpy() == 1, REAL)


def noise_spectra(
    table: pd.DataFrame, *, crop: int = CROP, max_images: int = MAX_IMAGES, seed: int = 0
) -> Spectra:
    """The mean residual spectrum of the reals and of each fake generator of ``table``.

    ``table``: a sample table (``path``, ``label``, ``generator``). Raises
    :class:`DataError` for an empty table, a crop under 8 px or when no image of
    any group is at least ``crop`` px on both sides.
    """
    if len(table) == 0:
        raise DataError("the dataset is empty; nothing to draw (check the path and layout)")
    if crop < 8 or max_images < 1:
        raise DataError(f"crop must be >= 8 and max images >= 1 (got {crop}, {max_images})")
    result = Spectra(crop=crop)
    for group, paths in sample_per_group(table, _groups(table), max_images, seed).items():
        total = np.zeros((crop, crop))
        used = 0
        for path in paths:
            try:
                luma = centre_crop(read_luma(path), crop)
            except DecodeError:
                continue
            if luma.shape != (crop, crop):
                continue
            total += residual_spectrum(luma)
            used += 1
        result.skipped[group] = len(paths) - used
        if used:
            result.spectra[group] = total / used
            result.counts[group] = used
    if not result.spectra:
        raise DataError(
            f"no image is at least {crop}x{crop} px (or none could be decoded); "
            "pass a smaller --crop"
        )
    return result


def plot_spectra(spectra: Spectra, out: str | Path) -> Path:
    """Draw the spectra side by side (reals first) into the PNG ``out``, atomically.

    Each panel has its own colour range (1st-99th percentile) so its peaks
    show; axes are in cycles / px (-0.5 .. 0.5). Raises :class:`DataError`
    when ``out`` cannot be written.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = sorted(spectra.spectra, key=lambda g: (g != REAL, g))
    fig, axes = plt.subplots(1, len(names), figsize=(3.2 * len(names), 3.4), squeeze=False)
    for ax, name in zip(axes[0], names, strict=True):
        s = spectra.spectra[name]
        lo, hi = np.percentile(s, [1, 99])
        ax.imshow(s, cmap="magma", vmin=lo, vmax=hi, extent=(-0.5, 0.5, 0.5, -0.5))
        ax.set_title(f"{name} (n={spectra.counts[name]})", fontsize=9)
        ax.set_xlabel("cycles / px", fontsize=8)
        ax.tick_params(labelsize=7)
    fig.suptitle(f"mean log |FFT| of noise residuals ({spectra.crop} px centre crop)", fontsize=10)
    fig.tight_layout()
    out = Path(out)
    try:
        with atomic_path(out) as tmp:
            fig.savefig(tmp, format="png", dpi=100)
    except OSError as exc:
        raise DataError(
            f"cannot write {out} ({exc.strerror or exc}); choose a writable --out"
        ) from None
    finally:
        plt.close(fig)
    return out
