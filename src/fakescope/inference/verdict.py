"""A bundle ready to decide: :class:`VerdictModel` (detector + calibrator + abstainer).

It runs the detector (torch or the bundle's ONNX export) over files or
in-memory images and hands the scores to THE decision function,
:func:`fakescope.inference.decision.decide` (rules in that module); the shared
types (:class:`Verdict`, :class:`FaceVerdict`, the reason strings) live in
:mod:`fakescope.inference.types` and are re-exported here.

Scores come from one pass: :meth:`Detector.features` (proba, logits, embedding)
when the bundle has an OOD abstainer (it needs the embedding; the logits give a
precise calibrated P(fake)), else :meth:`Detector.predict`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from fakescope.errors import ConfigError
from fakescope.inference.calibration import Calibrator
from fakescope.inference.decision import (
    decide,
    error_verdict,
    scores_from_features,
    scores_from_prediction,
)
from fakescope.inference.types import (
    REASON_ABOVE,
    REASON_BAND,
    REASON_BELOW,
    REASON_NO_FACE,
    REASON_OOD,
    UNCALIBRATED,
    UNSURE,
    VERDICTS,
    FaceVerdict,
    Scores,
    Verdict,
)

if TYPE_CHECKING:
    from PIL import Image

    from fakescope.bundle import Bundle
    from fakescope.data.faces import FaceSettings
    from fakescope.detectors.base import Detector
    from fakescope.features import Features
    from fakescope.ood.abstain import Abstainer

__all__ = [
    "BACKENDS",
    "NO_CALIBRATION",
    "REASON_ABOVE",
    "REASON_BAND",
    "REASON_BELOW",
    "REASON_NO_FACE",
    "REASON_OOD",
    "UNCALIBRATED",
    "UNSURE",
    "VERDICTS",
    "FaceVerdict",
    "Verdict",
    "VerdictModel",
    "check_threshold",
    "decide",
    "error_verdict",
]

#: Backends :meth:`VerdictModel.load` knows: the bundle's torch detector, or its
#: ``model.onnx`` run by onnxruntime on CPU (``fakescope export B --format onnx``).
BACKENDS = ("torch", "onnxruntime")
#: Shown when a bundle has no ``calibration.json``.
NO_CALIBRATION = (
    "this bundle has no calibration.json: p_fake is the raw detector score and there is no "
    "unsure band; retrain it with 'fakescope train' (calibration is on unless --no-calibrate)"
)


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
        """Load a bundle folder (:meth:`fakescope.bundle.Bundle.load`): detector,
        ``calibration.json`` and ``ood.json`` when present.

        ``backend="onnxruntime"`` runs the bundle's ``model.onnx`` on CPU (``device``
        is then ignored); a missing or stale export is a one-line error.
        """
        from fakescope.bundle import Bundle

        directory = Path(bundle_dir).expanduser()
        return cls.from_bundle(Bundle.load(directory, device=device, backend=backend), directory)

    @classmethod
    def from_bundle(cls, bundle: Bundle, source: str | Path | None = None) -> VerdictModel:
        """A model deciding with every part of a loaded or freshly fitted :class:`Bundle`."""
        return cls(bundle.detector, bundle.calibrator, bundle.abstainer, source=source)

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

            default = self.detector.params.batch_size
            return decide_face_files(
                self._decide_whole, paths, cut, batch_size, default, face_settings
            )
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
        scores, ood = self.score_paths(names, progress=progress, **run)
        return self._decide(scores, names, cut, ood)

    def score_paths(
        self, paths: Sequence[str | Path], *, progress: str | None = None, **run: Any
    ) -> tuple[Scores, tuple[np.ndarray, np.ndarray] | None]:
        """One pass over image files: the :class:`Scores` and, with an abstainer,
        ``(ood_scores [N], ood_flags [N])`` (``run``: ``batch_size`` / ``num_workers``)."""
        names = [str(p) for p in paths]
        if self.abstainer is None:
            pred = self.detector.predict(names, progress=progress, **run)
            return scores_from_prediction(pred), None
        inputs = self.abstainer.input_scorers
        feats = self.detector.features(names, progress=progress, input_scorers=inputs, **run)
        return self._features_scores(self.abstainer, feats)

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

            return decide_faces(self._decide_whole, images, labels, cut, face_settings)
        if self.abstainer is None:
            scores = scores_from_prediction(self.detector.predict_images(images))
            return self._decide(scores, labels, cut, None)
        feats = self.detector.features_images(images, self.abstainer.input_scorers)
        scores, ood = self._features_scores(self.abstainer, feats)
        return self._decide(scores, labels, cut, ood)

    def _decide_whole(
        self, images: Sequence[Image.Image], names: Sequence[str], cut: float
    ) -> list[Verdict]:
        """Whole-image verdicts at the raw cut ``cut`` (what each face crop gets)."""
        return self.decide_images(images, names, threshold=cut)

    def _features_scores(
        self, abstainer: Abstainer, feats: Features
    ) -> tuple[Scores, tuple[np.ndarray, np.ndarray]]:
        """Scores (with the model's logits) and OOD ``(scores, flags)`` of one-pass features."""
        ood = np.asarray(abstainer.score(feats), dtype=np.float64)
        flags = np.asarray(abstainer.is_ood(ood)).astype(bool)
        return scores_from_features(feats, self.threshold), (ood, flags)

    def _decide(
        self,
        scores: Scores,
        names: Sequence[str],
        cut: float,
        ood: tuple[np.ndarray, np.ndarray] | None,
    ) -> list[Verdict]:
        """:func:`~fakescope.inference.decision.decide` with this model's calibrator."""
        return decide(
            scores,
            names,
            threshold=cut,
            calibrator=self.calibrator,
            ood_scores=None if ood is None else ood[0],
            ood_flags=None if ood is None else ood[1],
        )


def check_threshold(threshold: float) -> float:
    """Return ``threshold`` when it is a P(fake) cut in [0, 1], else raise :class:`ConfigError`."""
    if not (isinstance(threshold, int | float) and 0.0 <= float(threshold) <= 1.0):
        raise ConfigError(f"threshold must be a probability in [0, 1], got {threshold}")
    return float(threshold)
