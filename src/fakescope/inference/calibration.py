"""Calibrated P(fake) and a split-conformal "unsure" band, fitted on held-out calibration images.

:class:`Calibrator` holds two independent things, both fitted on the
calibration images of a bundle - a part of the validation split that the
detector's early stopping and threshold never saw
(:mod:`fakescope.inference.fit_bundle`), never on test labels:

1. A monotone map ``raw P(fake) -> calibrated P(fake)`` (the number users see).
   Default ``"platt"``: a 1-D logistic regression on the logit of P(fake)
   (2 parameters, ``p_cal = sigmoid(a * z + b)``). ``z`` is the model's own logit
   when the caller has it (``logit=`` of :meth:`Calibrator.fit` /
   :meth:`Calibrator.transform`, float64), else ``logit(p)`` of the clipped
   P(fake): a float32 P(fake) of a confident image has lost most of the digits of
   ``1 - p``, and ``a < 1`` would magnify that loss. It is fitted by scikit-learn with Platt's
   smoothed targets ``(n1 + 1) / (n1 + 2)`` and ``1 / (n0 + 2)`` so that a
   perfectly separated validation set does not send the slope to infinity.
   Why Platt: validation sets here are small (tens to a few hundred images);
   it is strictly increasing (ranking, AUC and the decision at the bundle's
   threshold are kept), smooth, and it contains temperature scaling as the
   special case ``b = 0`` while its bias also corrects a shifted class prior,
   which a 1-parameter temperature cannot. ``"isotonic"`` (scikit-learn's
   ``IsotonicRegression``) is the nonparametric alternative for large
   validation sets; it is monotone but flat in places (ties).

2. The unsure band: label-conditional (Mondrian) split-conformal prediction
   sets on the *raw* P(fake) ``p``. Nonconformity of a real image is ``p``, of
   a fake one ``1 - p``. For each class ``y`` with ``n_y`` calibration images,
   ``q_y`` is the ``ceil((n_y + 1)(1 - alpha))``-th smallest nonconformity.
   The prediction set of a new image is ``{real if p <= q_real} u {fake if
   1 - p <= q_fake}``. **Guarantee**: if the new image and the calibration
   images of its true class are exchangeable (same source, the detector
   trained and early-stopped without them), ``P(true class in set | class) >= 1 - alpha`` for
   each class separately, hence also marginally - whatever the detector. The
   band uses the raw scores, so it does not depend on the calibration map fitted
   on the same images. It is not a guarantee under distribution shift (new
   generators): that is what the OOD abstainer is for. A set other than the
   single class the threshold chose (both classes, none, or the other class)
   makes the verdict "unsure". With fewer than ``1/alpha - 1`` calibration
   images of a class the quantile is infinite; the band is then switched off
   (``band is None``) and :attr:`Calibrator.band_note` says why, rather than
   calling every image unsure.

Stored as ``calibration.json`` in the bundle folder (JSON, written atomically).
Fitting one for a detector, scored as verdicts are:
:func:`fakescope.inference.fit_bundle.calibrate_detector`.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fakescope.errors import BundleError, DataError
from fakescope.fileio import atomic_write_json

#: File name inside a bundle folder.
FILENAME = "calibration.json"
#: Bump when the JSON layout changes incompatibly.
FORMAT = 1
METHODS = ("platt", "isotonic")
#: Default target error of the conformal band.
DEFAULT_ALPHA = 0.05
#: P(fake) is clipped to [EPS, 1 - EPS] before ``logit``.
EPS = 1e-6


def logit(p: np.ndarray) -> np.ndarray:
    """``log(p / (1 - p))`` of ``p`` clipped to ``[EPS, 1 - EPS]`` (NaN stays NaN)."""
    q = np.clip(np.asarray(p, dtype=np.float64), EPS, 1.0 - EPS)
    return np.log(q) - np.log1p(-q)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    out: np.ndarray = 0.5 * (1.0 + np.tanh(0.5 * z))  # overflow-free logistic
    return out


@dataclass(frozen=True)
class Band:
    """Conformal band on raw P(fake): "real" is in the set iff ``p <= real_max``,
    "fake" iff ``p >= fake_min`` (``real_max = q_real``, ``fake_min = 1 - q_fake``)."""

    alpha: float
    real_max: float
    fake_min: float
    n_real: int
    n_fake: int

    def sets(self, p_raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Membership ``(real_in [N], fake_in [N])`` of the prediction sets (False for NaN)."""
        p = np.asarray(p_raw, dtype=np.float64)
        return p <= self.real_max, p >= self.fake_min


def conformal_quantile(scores: np.ndarray, alpha: float) -> float:
    """The ``ceil((n + 1)(1 - alpha))``-th smallest of ``scores`` (inf when that exceeds n)."""
    s = np.sort(np.asarray(scores, dtype=np.float64))
    k = math.ceil((len(s) + 1) * (1.0 - alpha))
    return float(s[k - 1]) if k <= len(s) else math.inf


def fit_band(p_raw: np.ndarray, y: np.ndarray, alpha: float) -> tuple[Band | None, str]:
    """Fit the label-conditional conformal band (see module docstring); ``(band, note)``.

    ``band`` is None when a class has too few validation images for ``alpha``;
    ``note`` then says how many are needed.
    """
    if not 0.0 < alpha < 1.0:
        raise DataError(f"alpha must be in (0, 1), got {alpha}")
    real, fake = p_raw[y == 0], p_raw[y == 1]
    q_real = conformal_quantile(real, alpha)
    q_fake = conformal_quantile(1.0 - fake, alpha)
    need = math.ceil(1.0 / alpha - 1.0)
    if math.isinf(q_real) or math.isinf(q_fake):
        return None, (
            f"unsure band off: calibration has {len(real)} real and {len(fake)} fake images; "
            f"alpha={alpha:g} needs at least {need} of each"
        )
    band = Band(alpha, q_real, 1.0 - q_fake, len(real), len(fake))
    return band, f"unsure band at alpha={alpha:g} from {len(real)} real + {len(fake)} fake"


class Calibrator:
    """A fitted P(fake) calibration map plus an optional conformal band (module docstring).

    Build with :meth:`fit` or :meth:`load`; ``params`` is ``{"a", "b"}`` for
    Platt, ``{"x", "y"}`` (the isotonic knots) for isotonic.
    """

    def __init__(
        self,
        method: str,
        params: dict[str, Any],
        band: Band | None,
        band_note: str = "",
        n_val: int = 0,
    ) -> None:
        if method not in METHODS:
            raise BundleError(
                f"unknown calibration method {method!r}; expected one of {', '.join(METHODS)}"
            )
        self.method = method
        self.params = params
        self.band = band
        self.band_note = band_note
        self.n_val = n_val

    # ------------------------------------------------------------------ fit
    @classmethod
    def fit(
        cls,
        p_fake: np.ndarray,
        labels: np.ndarray,
        *,
        method: str = "platt",
        alpha: float | None = DEFAULT_ALPHA,
        logit: np.ndarray | None = None,
    ) -> Calibrator:
        """Fit on raw P(fake) [N] and labels [N] in {0, 1} of calibration images (NaN scores dropped).

        ``logit`` [N]: the model's logit of P(fake) (NaN where it has none), used by
        Platt instead of ``logit(p)``. ``alpha=None`` fits no band. Raises
        :class:`DataError` when the images lack a class, or when the scores rank fakes *below* reals (Platt slope
        <= 0: the detector is broken on this data and calibration would hide it).
        """
        if method not in METHODS:
            raise DataError(f"unknown calibration method {method!r}; use {' or '.join(METHODS)}")
        p = np.asarray(p_fake, dtype=np.float64).ravel()
        y = np.asarray(labels).astype(int).ravel()
        if p.shape != y.shape:
            raise DataError(f"p_fake and labels differ in length: {len(p)} vs {len(y)}")
        z = _logit_of(p, logit)
        ok = ~np.isnan(p)
        p, y, z = p[ok], y[ok], z[ok]
        if not set(np.unique(y).tolist()) <= {0, 1}:
            raise DataError("calibration labels must be 0 (real) or 1 (fake)")
        if (y == 0).sum() == 0 or (y == 1).sum() == 0:
            raise DataError("cannot calibrate: the calibration images need both real and fake ones")
        params = _fit_platt(z, y) if method == "platt" else _fit_isotonic(p, y)
        band, note = (None, "no unsure band (alpha not set)")
        if alpha is not None:
            band, note = fit_band(p, y, alpha)
        return cls(method, params, band, note, len(p))

    # ------------------------------------------------------------ transform
    def transform(
        self, p_fake: np.ndarray | float, *, logit: np.ndarray | None = None
    ) -> np.ndarray:
        """Calibrated P(fake), same shape as ``p_fake`` (monotone non-decreasing; NaN kept).

        ``logit``: the model's logit of P(fake), same shape (NaN where it has none);
        Platt maps it instead of ``logit(p_fake)`` (module docstring).
        """
        p = np.asarray(p_fake, dtype=np.float64)
        if self.method == "platt":
            out = _sigmoid(self.params["a"] * _logit_of(p, logit) + self.params["b"])
        else:
            out = np.interp(p, self.params["x"], self.params["y"])
        return np.where(np.isnan(p), np.nan, out)

    def describe(self) -> str:
        """One line: method, validation size and the band."""
        return f"{self.method} calibration on {self.n_val} calibration images; {self.band_note}"

    # ------------------------------------------------------------------- io
    def to_dict(self) -> dict[str, Any]:
        """JSON-ready content of ``calibration.json``."""
        return {
            "format": FORMAT,
            "method": self.method,
            "params": self.params,
            "band": None if self.band is None else asdict(self.band),
            "band_note": self.band_note,
            "n_val": self.n_val,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = FILENAME) -> Calibrator:
        """Inverse of :meth:`to_dict` (raises :class:`BundleError` on a bad file)."""
        if data.get("format") != FORMAT:
            raise BundleError(
                f"{source} has format {data.get('format')}, expected {FORMAT}; retrain the bundle"
            )
        try:
            band = None if data.get("band") is None else Band(**data["band"])
            return cls(
                str(data["method"]),
                dict(data["params"]),
                band,
                str(data.get("band_note", "")),
                int(data.get("n_val", 0)),
            )
        except (KeyError, TypeError) as exc:
            raise BundleError(f"{source} is incomplete ({exc}); retrain the bundle") from None

    def save(self, bundle_dir: str | Path) -> Path:
        """Write ``calibration.json`` into an existing bundle folder (atomically); returns it."""
        directory = Path(bundle_dir).expanduser()
        if not directory.is_dir():
            raise BundleError(f"no bundle folder at {directory}; save the detector first")
        return atomic_write_json(directory / FILENAME, self.to_dict())

    @classmethod
    def load(cls, bundle_dir: str | Path) -> Calibrator | None:
        """The bundle's calibrator, or None when it has no ``calibration.json``."""
        path = Path(bundle_dir).expanduser() / FILENAME
        if not path.is_file():
            return None
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise BundleError(f"{path} is not valid JSON ({exc}); retrain the bundle") from None
        return cls.from_dict(data, str(path))


def _logit_of(p: np.ndarray, z: np.ndarray | None) -> np.ndarray:
    """The model's logit ``z`` where it is finite, else ``logit(p)`` (float64, shape of ``p``)."""
    fallback = logit(p)
    if z is None:
        return fallback
    zz = np.broadcast_to(np.asarray(z, dtype=np.float64), fallback.shape)
    return np.where(np.isfinite(zz), zz, fallback)


def _fit_platt(z: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    """Platt scaling on logits ``z`` [N] with smoothed targets; ``{"a": slope, "b": bias}``."""
    from sklearn.linear_model import LogisticRegression

    n1, n0 = int((y == 1).sum()), int((y == 0).sum())
    target = np.where(y == 1, (n1 + 1.0) / (n1 + 2.0), 1.0 / (n0 + 2.0))
    x = z[:, None]
    # Soft targets through sample weights: each image once as fake (weight t), once as real (1 - t).
    model = LogisticRegression(C=1e4, max_iter=1000)
    model.fit(
        np.concatenate([x, x]),
        np.concatenate([np.ones(len(x)), np.zeros(len(x))]),
        sample_weight=np.concatenate([target, 1.0 - target]),
    )
    a, b = float(model.coef_[0, 0]), float(model.intercept_[0])
    if not a > 0.0:
        raise DataError(
            "cannot calibrate: on the calibration images higher P(fake) does not mean more fakes "
            f"(Platt slope {a:.3g}); check the labels or retrain the detector"
        )
    return {"a": a, "b": b}


def _fit_isotonic(p: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    """Isotonic regression of y on p; the knots ``{"x": [...], "y": [...]}`` (np.interp form)."""
    from sklearn.isotonic import IsotonicRegression

    iso = IsotonicRegression(y_min=0.0, y_max=1.0, increasing=True, out_of_bounds="clip")
    iso.fit(p, y.astype(np.float64))
    return {"x": iso.X_thresholds_.tolist(), "y": iso.y_thresholds_.tolist()}
