"""JPEG compression history seen in decoded pixels (a real-vs-fake shortcut check).

Real photos usually went through a JPEG encoder at least once; a generator's
(or a VAE's) output did not. A JPEG stores each 8x8 luminance block's DCT
coefficients rounded to multiples of a per-frequency step, so after decoding
the coefficients of blocks on the image's 8-pixel grid still sit near those
multiples - even when the file was later saved losslessly or re-encoded. A
detector trained on such data can learn "JPEG history = real".

Per image (luminance, the centre :data:`CROP` px crop kept on the 8-px grid):

* **quantisation score** (flags): for each of the low-frequency AC
  coefficients :data:`FREQS`, how strongly the values cluster on multiples of
  some step ``q`` in :data:`STEPS` - the mean of ``cos(2 pi c / q)`` over the
  coefficients with ``|c| >= q / 2`` (1 = exactly on the lattice, about 0 = no
  lattice), best step taken - on the grid-aligned blocks **minus** the same on
  blocks shifted by (4, 4) px, with equally many coefficients compared in both.
  Only a grid-aligned JPEG lattice survives the subtraction: content, blur
  and any 8-px periodic pattern (a latent-diffusion decoder's own up-sampling
  grid, a genuine generator trace) give about 0. Mean over the frequencies;
  higher = stronger JPEG history. Double compression keeps the lattice of the
  last encode and a perturbed one of the first, so a history differing under
  a common re-encode moves the score too.
* **blockiness** (reported, never flags): log of the mean absolute luminance
  step across 8-px block boundaries over the mean step inside blocks. JPEG
  raises it, but so does a decoder's 8-px grid, so it only helps read the
  quantisation score.

Per source, :func:`fakescope.data.pixels.compare` turns the scores into a
real-vs-fake AUC; ``jpeg history`` is flagged when ``|AUC - 0.5| >=``
:data:`FLAG_MARGIN` with at least :data:`~fakescope.data.pixels.MIN_IMAGES`
images per class.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy.fft import dctn

from fakescope.data.pixels import centre_crop, read_luma

#: Side of the grid-aligned centre crop (px; smaller images use what fits).
CROP = 256
#: AC coefficients (row, column of the 8x8 DCT) scored: the nine lowest (u + v <= 3).
FREQS: tuple[tuple[int, int], ...] = tuple((u, s - u) for s in range(1, 4) for u in range(s + 1))
#: Candidate quantisation steps (JPEG quality ~40 to ~95 at these frequencies).
STEPS: tuple[int, ...] = tuple(range(2, 25))
#: Coefficients per (frequency, step) compared, at most and at least.
MAX_COEFFS = 256
MIN_COEFFS = 24
#: Offset of the misaligned reference grid (px).
SHIFT = 4
#: ``jpeg history`` flags when ``|AUC - 0.5|`` reaches this (AUC 0.65 or 0.35).
FLAG_MARGIN = 0.15
#: Names of the per-image scores.
QUANT = "jpeg_quant"
BLOCKINESS = "blockiness"


def block_dct(luma: np.ndarray) -> np.ndarray:
    """Orthonormal (JPEG) DCT of the 8x8 blocks of ``luma`` [H, W] -> [n_blocks, 8, 8].

    Blocks start at the array's origin; rows / columns past the last full block are dropped.
    """
    h, w = (luma.shape[0] // 8) * 8, (luma.shape[1] // 8) * 8
    blocks = luma[:h, :w].reshape(h // 8, 8, w // 8, 8).swapaxes(1, 2).reshape(-1, 8, 8)
    return np.asarray(dctn(blocks - 128.0, axes=(1, 2), norm="ortho"))


def _best_fit(coeffs: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Best-step lattice fit per frequency: ``coeffs`` [F, N], ``counts`` [F, Q] -> [F].

    For each step ``q`` of :data:`STEPS`, the mean ``cos(2 pi c / q)`` of the first
    ``counts[f, q]`` coefficients with ``|c| >= q / 2``; the best step wins. Steps
    with a count under :data:`MIN_COEFFS` are left out (-inf when none is left).
    """
    q = np.asarray(STEPS, dtype=np.float64)[None, :, None]  # [1, Q, 1]
    c = coeffs[:, None, :]  # [F, 1, N]
    eligible = np.abs(c) >= q / 2.0  # [F, Q, N]
    keep = eligible & (np.cumsum(eligible, axis=2) <= counts[:, :, None])
    fit = (np.cos(2.0 * np.pi * c / q) * keep).sum(axis=2) / np.maximum(counts, 1)
    fit[counts < MIN_COEFFS] = -np.inf
    return np.asarray(fit.max(axis=1))


def _frequency_scores(aligned: np.ndarray, shifted: np.ndarray) -> np.ndarray:
    """Best-step fit of ``aligned`` [F, N] minus that of ``shifted`` [F, M] -> [F] (NaN: too few).

    Both grids are compared on equally many coefficients per (frequency, step),
    so chance fits (which grow as counts shrink) cancel.
    """
    q = np.asarray(STEPS, dtype=np.float64)[None, :, None]
    n_a = (np.abs(aligned[:, None, :]) >= q / 2.0).sum(axis=2)  # [F, Q]
    n_s = (np.abs(shifted[:, None, :]) >= q / 2.0).sum(axis=2)
    counts = np.minimum(np.minimum(n_a, n_s), MAX_COEFFS)
    best_a, best_s = _best_fit(aligned, counts), _best_fit(shifted, counts)
    with np.errstate(invalid="ignore"):
        return np.where(np.isfinite(best_a), best_a - best_s, np.nan)


def quantisation_score(luma: np.ndarray) -> float:
    """JPEG-lattice strength of ``luma`` [H, W] (block grid at its origin), about 0 without.

    See the module docstring; roughly 0.3-0.9 after one JPEG encode at quality
    <= 90, about 0 (either sign) for never-compressed pixels. NaN when no
    frequency has :data:`MIN_COEFFS` usable coefficients (tiny or flat images).
    """
    rows, cols = np.array(FREQS).T
    aligned = block_dct(luma)[:, rows, cols].T  # [F, blocks]
    shifted = block_dct(luma[SHIFT:, SHIFT:])[:, rows, cols].T
    scores = _frequency_scores(aligned, shifted)
    valid = scores[~np.isnan(scores)]
    return float(valid.mean()) if len(valid) else float("nan")


def blockiness(luma: np.ndarray) -> float:
    """log(mean |step| across 8-px block boundaries / mean |step| inside blocks) of ``luma``.

    ``luma`` [H, W] with the block grid at its origin; about 0 for content with
    no 8-px structure, positive for JPEG blocking (or any 8-px grid). NaN for
    images under 16 px or flat ones.
    """
    if min(luma.shape) < 16:
        return float("nan")
    steps = []
    for d in (np.abs(np.diff(luma, axis=1)), np.abs(np.diff(luma, axis=0)).T):
        boundary = np.zeros(d.shape[1], dtype=bool)
        boundary[7::8] = True  # the step from column 8k-1 to 8k
        steps.append((d[:, boundary].mean(), d[:, ~boundary].mean()))
    across = sum(a for a, _ in steps)
    inside = sum(b for _, b in steps)
    if across <= 0 or inside <= 0:
        return float("nan")
    return float(np.log(across / inside))


def luma_scores(luma: np.ndarray, *, crop: int = CROP) -> dict[str, float]:
    """``{QUANT: ..., BLOCKINESS: ...}`` of a whole stored image's luminance [H, W].

    Scored on the centre ``crop`` px, kept on the 8-px grid of the image's origin.
    """
    luma = centre_crop(luma, crop, grid=8)
    return {QUANT: quantisation_score(luma), BLOCKINESS: blockiness(luma)}


def image_scores(path: str | Path, *, crop: int = CROP) -> dict[str, float]:
    """:func:`luma_scores` of one file; :class:`~fakescope.errors.DecodeError` when undecodable."""
    return luma_scores(read_luma(path), crop=crop)
