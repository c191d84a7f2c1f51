"""Decoded-pixel helpers shared by the pixel audits (JPEG history, sharpness, spectra).

Luminance is read *without* EXIF rotation: a JPEG's 8x8 block grid is anchored
at the stored image's top-left corner, and rotating the pixels would move it.
Luminance is the JPEG (ITU-R BT.601) weighting of the decoded RGB, kept as
float so no extra rounding is added.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, UnidentifiedImageError

from fakescope.data.decode import MAX_PIXELS, to_rgb
from fakescope.data.schema import PATH
from fakescope.errors import DecodeError

#: BT.601 luma weights (the Y of JPEG's YCbCr).
LUMA_WEIGHTS = np.array([0.299, 0.587, 0.114])


def read_luma(path: str | Path, *, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """The stored image's luminance as float64 [H, W] in 0..255 (no EXIF rotation).

    Grayscale files are read as they are (no colour round trip). Raises
    :class:`DecodeError` with a one-line reason when the file cannot be decoded.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                w, h = img.size
                if w * h > max_pixels:
                    raise DecodeError(f"{path}: {w}x{h} exceeds the {max_pixels:,}-pixel limit")
                img.load()
                if img.mode == "L":
                    return np.asarray(img, dtype=np.float64)
                rgb = np.asarray(to_rgb(img), dtype=np.float64)
    except DecodeError:
        raise
    except (OSError, ValueError, SyntaxError, UnidentifiedImageError) as exc:
        raise DecodeError(f"{path}: cannot decode ({exc})") from None
    return rgb @ LUMA_WEIGHTS


def centre_crop(x: np.ndarray, size: int, *, grid: int = 1) -> np.ndarray:
    """The centre ``size`` x ``size`` crop of ``x`` [H, W] (smaller sides: as much as fits).

    With ``grid`` > 1 the crop starts on a multiple of ``grid`` and its sides are
    multiples of ``grid``, so an 8x8 block grid anchored at the image origin stays
    aligned with the crop's own. Returns a view [h, w] (empty when nothing fits).
    """
    h, w = x.shape
    ch = min(size, h) // grid * grid
    cw = min(size, w) // grid * grid
    top = (h - ch) // 2 // grid * grid
    left = (w - cw) // 2 // grid * grid
    return x[top : top + ch, left : left + cw]


def sample_per_group(
    table: pd.DataFrame, keys: pd.Series, cap: int, seed: int
) -> dict[str, list[str]]:
    """At most ``cap`` paths of ``table`` per value of ``keys`` (seeded shuffle), sorted by key."""
    rng = np.random.default_rng(seed)
    out: dict[str, list[str]] = {}
    for key in sorted(set(keys.astype(str))):
        paths = table.loc[keys.astype(str) == key, PATH].astype(str).to_numpy()
        chosen = rng.permutation(len(paths))[:cap]
        out[key] = [str(paths[i]) for i in sorted(chosen)]
    return out


#: A pixel check flags only with at least this many scored images per class.
MIN_IMAGES = 20
#: ... and when the AUC's distance from 0.5 is significant at this two-sided level.
ALPHA = 0.01


def signed_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """ROC-AUC of ``scores`` [N] for ``labels`` [N] (1 = fake); NaN scores dropped.

    Not folded: above 0.5 means fakes score higher, below 0.5 reals do; NaN when a
    class has no scored image.
    """
    from sklearn.metrics import roc_auc_score

    ok = ~np.isnan(scores)
    y = np.asarray(labels)[ok]
    if len(np.unique(y)) < 2:
        return float("nan")
    return float(roc_auc_score(y, scores[ok]))


@dataclass(frozen=True)
class PixelCheck:
    """One per-image score compared between the classes of one source.

    ``auc`` is the signed real-vs-fake AUC (0.5 = the score says nothing; above:
    fakes score higher). ``flagged`` when ``|auc - 0.5| >= margin`` (large
    enough to learn from), the difference is significant (Mann-Whitney normal
    approximation, two-sided p below :data:`ALPHA`, so small samples do not flag
    by chance) and both classes have at least ``min_images`` scored images.
    """

    auc: float
    real_mean: float
    fake_mean: float
    n_real: int
    n_fake: int
    margin: float
    min_images: int = MIN_IMAGES

    @property
    def enough(self) -> bool:
        """Both classes have at least ``min_images`` scored images."""
        return min(self.n_real, self.n_fake) >= self.min_images

    @property
    def p_value(self) -> float:
        """Two-sided p-value of ``auc != 0.5`` (normal approximation; NaN without both classes)."""
        from scipy.stats import norm

        if self.n_real == 0 or self.n_fake == 0 or np.isnan(self.auc):
            return float("nan")
        n1, n2 = self.n_real, self.n_fake
        sd = np.sqrt((n1 + n2 + 1) / (12.0 * n1 * n2))
        return float(2.0 * norm.sf(abs(self.auc - 0.5) / sd))

    @property
    def flagged(self) -> bool:
        """The score separates the classes (see the class docstring)."""
        return bool(self.enough and abs(self.auc - 0.5) >= self.margin and self.p_value < ALPHA)


def compare(labels: np.ndarray, scores: np.ndarray, margin: float) -> PixelCheck:
    """The :class:`PixelCheck` of ``scores`` [N] (NaN = not scored) for ``labels`` [N]."""
    y = np.asarray(labels, dtype=np.int64)
    s = np.asarray(scores, dtype=np.float64)
    ok = ~np.isnan(s)
    means = [
        float(s[ok & (y == c)].mean()) if (ok & (y == c)).any() else float("nan") for c in (0, 1)
    ]
    return PixelCheck(
        auc=signed_auc(y, s),
        real_mean=means[0],
        fake_mean=means[1],
        n_real=int((ok & (y == 0)).sum()),
        n_fake=int((ok & (y == 1)).sum()),
        margin=margin,
    )
