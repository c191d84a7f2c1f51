"""THE verdict: one function turns detector output into "real" / "fake" / "unsure".

``scan``, ``check``, the HTTP server and evaluation all call :func:`decide`
(usually through :class:`VerdictModel`); nobody else computes a verdict.

Rules, per image, first match wins:

1. the file failed to decode: verdict ``""``, ``error`` says why;
2. the bundle has an OOD abstainer and the image's OOD score (higher = more
   out-of-distribution) is above the abstainer's threshold: ``"unsure"``,
   reason ``"out of distribution"`` - even when P(fake) is confident;
3. the bundle's calibrator has a conformal band and the image's conformal
   prediction set is not exactly the class chosen by the threshold (both
   classes, none, or the other one): ``"unsure"``, reason ``"near the threshold"``
   (see :mod:`fakescope.inference.calibration` for the coverage guarantee);
4. otherwise ``"fake"`` when raw P(fake) >= ``threshold``, else ``"real"``
   (reason ``"above threshold"`` / ``"below threshold"``, with
   ``" (uncalibrated)"`` appended when the bundle has no calibration).

With ``faces=True`` (:meth:`VerdictModel.decide_images` / ``decide_paths``)
each image's faces are found (:mod:`fakescope.data.faces`), every face crop
gets its own verdict by the rules above, and the image's verdict is the one of
its most-fake face (highest P(fake); reason suffixed with the number of
faces); an image without a face is scored whole, reason prefixed ``"no face
found"``. Per-face boxes and verdicts are in :attr:`Verdict.faces`.

``threshold`` is a cut on the *raw* detector P(fake) (``p_fake_raw``): the
bundle's ``threshold_`` chosen on validation data, or a caller's override.
The calibration map is monotone, so the same decision is ``p_fake >=
calibrated_threshold`` on the calibrated scale users see
(:meth:`VerdictModel.calibrated_threshold`). ``cls`` follows
:meth:`fakescope.detectors.base.Prediction.decide` at that threshold (real iff
``p_fake_raw < threshold``, else the routed fake class), so a "real" verdict
always has class "real" and a "fake" verdict a fake class; for "unsure" it is
that best guess.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from fakescope.data.schema import FAKE, REAL
from fakescope.detectors.base import Detector, Prediction
from fakescope.errors import ConfigError
from fakescope.inference.calibration import Calibrator

if TYPE_CHECKING:
    from PIL import Image

    from fakescope.data.faces import Box, FaceSettings
    from fakescope.detectors.features import Features
    from fakescope.ood.abstain import Abstainer

UNSURE = "unsure"
VERDICTS = (REAL, FAKE, UNSURE)
REASON_OOD = "out of distribution"
REASON_BAND = "near the threshold"
REASON_ABOVE = "above threshold"
REASON_BELOW = "below threshold"
UNCALIBRATED = " (uncalibrated)"
REASON_NO_FACE = "no face found"
#: Backends :meth:`VerdictModel.load` knows: the bundle's torch detector, or its
#: ``model.onnx`` run by onnxruntime on CPU (``fakescope export B --format onnx``).
BACKENDS = ("torch", "onnxruntime")
#: Shown when a bundle has no ``calibration.json``.
NO_CALIBRATION = (
    "this bundle has no calibration.json: p_fake is the raw detector score and there is no "
    "unsure band; retrain it with 'fakescope train' (calibration is on unless --no-calibrate)"
)


@dataclass(frozen=True)
class Verdict:
    """The verdict for one image (see the module docstring for the rules).

    ``p_fake``: calibrated P(fake) in [0, 1] (the raw score when the bundle has
    no calibrator; None when the file failed); ``p_fake_raw``: the detector's
    own P(fake); ``verdict`` in {"real", "fake", "unsure"} or "" on error;
    ``ood_score``: higher = more out-of-distribution (None without an
    abstainer); ``cls``: class name consistent with the verdict ("" on error);
    ``faces``: per-face results when faces were asked for (None otherwise; empty
    when no face was found).
    """

    path: str
    p_fake: float | None
    p_fake_raw: float | None
    verdict: str
    reason: str
    ood_score: float | None
    cls: str
    error: str
    faces: tuple[FaceVerdict, ...] | None = None

    @property
    def filename(self) -> str:
        """The file name part of :attr:`path`."""
        return Path(self.path).name

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``path, p_fake, p_fake_raw, verdict, reason, ood_score, class, error``
        (+ ``faces``: a list of :meth:`FaceVerdict.to_dict` when faces were asked for)."""
        out: dict[str, Any] = {
            "path": self.path,
            "p_fake": self.p_fake,
            "p_fake_raw": self.p_fake_raw,
            "verdict": self.verdict,
            "reason": self.reason,
            "ood_score": self.ood_score,
            "class": self.cls,
            "error": self.error,
        }
        if self.faces is not None:
            out["faces"] = [f.to_dict() for f in self.faces]
        return out


@dataclass(frozen=True)
class FaceVerdict:
    """One face of an image: ``box`` (the detected face) and ``crop`` (the scored
    region), both ``(x0, y0, x1, y1)`` pixels of the original image, and the
    crop's :class:`Verdict`."""

    box: Box
    crop: Box
    verdict: Verdict

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``box``, ``crop`` and the crop's verdict fields (no path / error)."""
        v = self.verdict.to_dict()
        for key in ("path", "error", "faces"):
            v.pop(key, None)
        return {"box": list(self.box), "crop": list(self.crop), **v}


def _num(x: float) -> float | None:
    return None if math.isnan(x) else float(x)


def decide(
    pred: Prediction,
    paths: Sequence[str | Path],
    *,
    threshold: float,
    calibrator: Calibrator | None = None,
    ood_scores: np.ndarray | None = None,
    ood_flags: np.ndarray | None = None,
) -> list[Verdict]:
    """THE verdict function: one :class:`Verdict` per row of ``pred``, in order.

    ``pred``: detector output for N images (``proba`` [N, C], NaN rows failed);
    ``paths`` [N]: names to report; ``threshold``: the raw P(fake) cut;
    ``calibrator``: optional calibration + band; ``ood_scores`` [N] (higher =
    more OOD, NaN = no score) and ``ood_flags`` [N] bool (True = above the
    abstainer's threshold), both or neither.
    """
    n = len(pred.proba)
    if len(paths) != n:
        raise ValueError(f"{len(paths)} paths for {n} predictions")
    if (ood_scores is None) != (ood_flags is None):
        raise ValueError("pass both ood_scores and ood_flags, or neither")
    p_raw = pred.p_fake.astype(np.float64)
    p_cal = p_raw if calibrator is None else calibrator.transform(p_raw)
    classes = pred.decide(threshold)
    band = None if calibrator is None else calibrator.band
    real_in, fake_in = band.sets(p_raw) if band is not None else (None, None)
    suffix = UNCALIBRATED if calibrator is None else ""
    out = []
    for i in range(n):
        path = str(paths[i])
        score = None if ood_scores is None else _num(float(ood_scores[i]))
        cls = classes[i]
        if cls is None or math.isnan(p_raw[i]):
            error = pred.errors[i] or "no score for this image"
            out.append(Verdict(path, None, None, "", "", score, "", error))
            continue
        base = REAL if cls == REAL else FAKE
        if ood_flags is not None and bool(ood_flags[i]) and score is not None:
            verdict, reason = UNSURE, REASON_OOD
        elif (
            real_in is not None
            and fake_in is not None
            and not _singleton(bool(real_in[i]), bool(fake_in[i]), base)
        ):
            verdict, reason = UNSURE, REASON_BAND
        else:
            verdict = base
            reason = (REASON_ABOVE if base == FAKE else REASON_BELOW) + suffix
        p = float(p_cal[i])
        out.append(Verdict(path, p, float(p_raw[i]), verdict, reason, score, cls, pred.errors[i]))
    return out


def _singleton(real_in: bool, fake_in: bool, base: str) -> bool:
    """True when the conformal set is exactly ``{base}``."""
    return (real_in, fake_in) == ((True, False) if base == REAL else (False, True))


class VerdictModel:
    """A detector + optional :class:`Calibrator` + optional OOD abstainer, ready to decide.

    Thread-safe for concurrent ``decide_*`` calls: per-call options
    (``threshold``, ``batch_size``, ``num_workers``) are passed down, never
    stored on the detector.
    """

    def __init__(
        self,
        detector: Detector,
        calibrator: Calibrator | None = None,
        abstainer: Abstainer | None = None,
        *,
        source: str | Path | None = None,
    ) -> None:
        detector.check_fitted()
        self.detector = detector
        self.calibrator = calibrator
        self.abstainer = abstainer
        self.source = None if source is None else str(source)

    @classmethod
    def load(
        cls, bundle_dir: str | Path, backend: str = "torch", *, device: str | None = None
    ) -> VerdictModel:
        """Load a bundle folder: detector, ``calibration.json`` and ``ood.json`` when present.

        ``backend="onnxruntime"`` runs the bundle's ``model.onnx`` on CPU (``device``
        is then ignored); a missing or stale export is a one-line error.
        """
        if backend not in BACKENDS:
            raise ConfigError(
                f"backend {backend!r} is not available; use one of {', '.join(BACKENDS)}"
            )
        from fakescope.bundle import load_bundle

        directory = Path(bundle_dir).expanduser()
        detector: Detector
        if backend == "onnxruntime":
            from fakescope.inference.onnx_runtime import OnnxDetector

            detector = OnnxDetector.from_bundle(directory)
        else:
            detector = load_bundle(directory, device=device)
        return cls(
            detector, Calibrator.load(directory), _load_abstainer(directory), source=directory
        )

    # --------------------------------------------------------------- facts
    @property
    def backend(self) -> str:
        """The backend: "onnxruntime" for a bundle's ``model.onnx``, else "torch"."""
        return "onnxruntime" if self.detector.name == "onnx" else "torch"

    @property
    def threshold(self) -> float:
        """The bundle's raw P(fake) cut (chosen on validation data)."""
        return float(self.detector.threshold_)

    @property
    def classes(self) -> list[str]:
        """Class names, "real" first."""
        return list(self.detector.check_fitted())

    def calibrated_threshold(self, threshold: float | None = None) -> float:
        """``threshold`` (default the bundle's) on the calibrated P(fake) scale."""
        t = self.threshold if threshold is None else float(threshold)
        return t if self.calibrator is None else float(self.calibrator.transform(t))

    def notes(self) -> list[str]:
        """One-line remarks for users: missing calibration, band state, OOD state."""
        lines = [NO_CALIBRATION if self.calibrator is None else self.calibrator.describe()]
        if self.abstainer is None:
            lines.append(
                "no OOD abstainer in this bundle: out-of-distribution images are not flagged"
            )
        return lines

    def info(self) -> dict[str, Any]:
        """JSON-ready description (detector, classes, thresholds, calibration, OOD)."""
        cal = self.calibrator
        return {
            "source": self.source,
            "detector": getattr(self.detector, "detector_name", "") or self.detector.name,
            "backend": self.backend,
            "classes": self.classes,
            "threshold_raw": self.threshold,
            "threshold": self.calibrated_threshold(),
            "calibration": None if cal is None else cal.to_dict(),
            "ood": None
            if self.abstainer is None
            else {
                "scorer": self.abstainer.scorer,
                "threshold": self.abstainer.threshold_,
            },
            "notes": self.notes(),
        }

    # ------------------------------------------------------------ deciding
    def decide_paths(
        self,
        paths: Sequence[str | Path],
        *,
        threshold: float | None = None,
        batch_size: int | None = None,
        num_workers: int | None = None,
        progress: str | None = None,
        faces: bool = False,
        face_settings: FaceSettings | None = None,
    ) -> list[Verdict]:
        """Verdicts for image files, in order; unreadable files get an ``error`` (never raise).

        ``threshold``: raw P(fake) cut (default: the bundle's); ``batch_size`` /
        ``num_workers``: this call only (default: the detector's params);
        ``faces``: score each face (module docstring), decoding in this thread.
        """
        cut = check_threshold(self.threshold if threshold is None else threshold)
        if faces:
            from fakescope.inference.face_verdicts import decide_face_files

            return decide_face_files(self, paths, cut, batch_size, face_settings)
        run: dict[str, Any] = {}
        if batch_size is not None:
            if batch_size < 1:
                raise ConfigError(f"batch size must be at least 1, got {batch_size}")
            run["batch_size"] = batch_size
        if num_workers is not None:
            if num_workers < 0:
                raise ConfigError(f"workers must be 0 or more, got {num_workers}")
            run["num_workers"] = num_workers
        names = [str(p) for p in paths]
        if self.abstainer is None:
            pred = self.detector.predict(names, progress=progress, **run)
            return decide(pred, names, threshold=cut, calibrator=self.calibrator)
        inputs = self.abstainer.input_scorers
        feats = self.detector.features(names, progress=progress, input_scorers=inputs, **run)
        return self._decide_features(self.abstainer, feats, names, cut)

    def decide_images(
        self,
        images: Sequence[Image.Image],
        names: Sequence[str] | None = None,
        *,
        threshold: float | None = None,
        faces: bool = False,
        face_settings: FaceSettings | None = None,
    ) -> list[Verdict]:
        """Verdicts for in-memory images (``names`` default ``image-0``, ``image-1``, ...).

        ``faces``: score each face and take the most-fake one (module docstring).
        """
        cut = check_threshold(self.threshold if threshold is None else threshold)
        labels = [f"image-{i}" for i in range(len(images))] if names is None else list(names)
        if len(labels) != len(images):
            raise ValueError(f"{len(labels)} names for {len(images)} images")
        if not images:
            return []
        if faces:
            from fakescope.inference.face_verdicts import decide_faces

            return decide_faces(self, images, labels, cut, face_settings)
        if self.abstainer is None:
            pred = self.detector.predict_images(images)
            return decide(pred, labels, threshold=cut, calibrator=self.calibrator)
        feats = self.detector.features_images(images, self.abstainer.input_scorers)
        return self._decide_features(self.abstainer, feats, labels, cut)

    def _decide_features(
        self, abstainer: Abstainer, feats: Features, names: Sequence[str], cut: float
    ) -> list[Verdict]:
        """Decide from one-pass :class:`~fakescope.detectors.features.Features` (with OOD)."""
        scores = np.asarray(abstainer.score(feats), dtype=np.float64)
        flags = np.asarray(abstainer.is_ood(scores)).astype(bool)
        pred = Prediction(
            np.asarray(feats.proba),
            list(feats.errors),
            list(feats.classes),
            threshold=self.threshold,
            fake_route=feats.extras.get("fake_route"),
        )
        return decide(
            pred,
            names,
            threshold=cut,
            calibrator=self.calibrator,
            ood_scores=scores,
            ood_flags=flags,
        )


def check_threshold(threshold: float) -> float:
    """Return ``threshold`` when it is a P(fake) cut in [0, 1], else raise :class:`ConfigError`."""
    if not (isinstance(threshold, int | float) and 0.0 <= float(threshold) <= 1.0):
        raise ConfigError(f"threshold must be a probability in [0, 1], got {threshold}")
    return float(threshold)


def _load_abstainer(directory: Path) -> Abstainer | None:
    """The bundle's OOD abstainer (``ood.json``), or None (also when OOD support is absent)."""
    try:
        from fakescope.ood.abstain import Abstainer
    except ImportError:
        if (directory / "ood.json").exists():
            raise ConfigError(
                f"{directory} has an OOD abstainer (ood.json) but this fakescope cannot read it; "
                "update fakescope"
            ) from None
        return None
    return Abstainer.load(directory)
