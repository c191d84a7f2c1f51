"""THE decision path: detector scores (or a failure) -> :class:`~fakescope.inference.types.Verdict`.

``scan``, ``check``, ``explain``, the HTTP server and the ``verdicts`` section of
``fakescope eval --model`` all reach a verdict through :func:`decide` (scores),
:func:`error_verdict` (a failure) and :func:`merge_faces` (several faces of one
image); nothing else makes one.

Rules, per image, first match wins:

1. no score (the file failed to decode): ``verdict`` None, ``error`` says why;
2. the bundle has an OOD abstainer and the image's OOD score (higher = more
   out-of-distribution) is above the abstainer's threshold: ``"unsure"``,
   ``ood=True``, reason ``"out of distribution"`` - even when P(fake) is confident;
3. the bundle's calibrator has a conformal band and the image's conformal
   prediction set is not exactly the class chosen by the threshold (both
   classes, none, or the other one): ``"unsure"``, reason ``"near the threshold"``
   (see :mod:`fakescope.inference.calibration` for the coverage guarantee);
4. otherwise the cut (:func:`fakescope.inference.types.cut`): ``"fake"`` when raw
   P(fake) >= ``threshold``, else ``"real"`` (reason ``"above threshold"`` /
   ``"below threshold"``, `` (uncalibrated)`` appended without a calibrator).

``threshold`` is a cut on the *raw* P(fake) (``p_fake_raw``). The calibration map
is monotone, so the same decision is ``p_fake >= calibrated threshold`` on the
scale users see. The calibrated ``p_fake`` is computed from the model's own
logit of P(fake) when it has one (:func:`fake_logit`), not from a float32
P(fake), so confident scores keep their precision and the torch and ONNX
backends agree. ``cls`` is "real" when the cut says real, else the routed fake
class (:attr:`Scores.fake_class`), so a "real" verdict always has class "real".

Faces (:func:`merge_faces`): an image's verdict is the one of its most-fake face
(highest raw P(fake)), reason suffixed ``"; 1 face"`` / ``"; most-fake of N
faces"``; an image without a face is scored whole, reason prefixed ``"no face found"``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from fakescope.inference.types import (
    FAKE,
    NO_SCORE,
    REAL,
    REASON_ABOVE,
    REASON_BAND,
    REASON_BELOW,
    REASON_NO_FACE,
    REASON_OOD,
    UNCALIBRATED,
    UNSURE,
    FaceVerdict,
    Scores,
    Verdict,
    cut,
)

if TYPE_CHECKING:
    from fakescope.detectors.base import Prediction
    from fakescope.features import Features
    from fakescope.inference.calibration import Calibrator

#: :func:`fake_logit` trusts class logits where ``|sigmoid(z) - p_fake| <= ABS_TOL + REL_TOL * min(p, 1 - p)``.
ABS_TOL = 1e-6
REL_TOL = 1e-3


def fake_logit(proba: np.ndarray, logits: np.ndarray) -> np.ndarray:
    """The logit of P(fake) [N] float64 from class logits [N, C] (class 0 = real).

    ``z = logsumexp(logits[:, 1:]) - logits[:, 0]``, exact when ``softmax(logits)
    == proba``. Rows where the logits do not reproduce ``proba`` (an SVM's
    decision function, ``log(proba)`` of a clipped zero, ...) or are not finite
    are NaN, so callers fall back to ``logit(p_fake)`` there.
    """
    z_all = np.asarray(logits, dtype=np.float64)
    p = 1.0 - np.asarray(proba, dtype=np.float64)[:, 0]
    if z_all.ndim != 2 or z_all.shape[1] < 2 or len(z_all) != len(p):
        return np.full(len(p), np.nan)
    fake = z_all[:, 1:]
    top = np.max(fake, axis=1, keepdims=True)
    with np.errstate(invalid="ignore", over="ignore"):
        lse = top[:, 0] + np.log(np.sum(np.exp(fake - top), axis=1))
        z = lse - z_all[:, 0]
        q = 0.5 * (1.0 + np.tanh(0.5 * z))
        ok = np.isfinite(z) & (np.abs(q - p) <= ABS_TOL + REL_TOL * np.minimum(p, 1.0 - p))
    return np.where(ok, z, np.nan)


def scores_from_prediction(pred: Prediction, logits: np.ndarray | None = None) -> Scores:
    """:class:`Scores` of a :class:`~fakescope.detectors.base.Prediction` (optional class
    ``logits`` [N, C] of the same rows for a precise logit of P(fake))."""
    p = np.asarray(pred.p_fake, dtype=np.float64)
    z = np.full(len(p), np.nan) if logits is None else fake_logit(pred.proba, logits)
    return Scores(p, z, list(pred.fake_class), list(pred.errors))


def scores_from_features(feats: Features, threshold: float = 0.5) -> Scores:
    """:class:`Scores` of one-pass :class:`~fakescope.features.Features`
    (fake route from ``extras["fake_route"]`` when the detector gives one)."""
    from fakescope.detectors.base import Prediction

    pred = Prediction(
        np.asarray(feats.proba),
        list(feats.errors),
        list(feats.classes),
        threshold=threshold,
        fake_route=feats.extras.get("fake_route"),
    )
    return scores_from_prediction(pred, np.asarray(feats.logits))


def _num(x: float) -> float | None:
    return None if math.isnan(x) else float(x)


def error_verdict(
    path: str | Path,
    error: str,
    *,
    ood_score: float | None = None,
    faces: tuple[FaceVerdict, ...] | None = None,
) -> Verdict:
    """The verdict of an image that could not be scored: ``verdict`` None, ``error`` set."""
    return Verdict(str(path), None, None, None, "", ood_score, None, error or NO_SCORE, faces=faces)


def decide(
    scores: Scores | Prediction,
    paths: Sequence[str | Path],
    *,
    threshold: float,
    calibrator: Calibrator | None = None,
    ood_scores: np.ndarray | None = None,
    ood_flags: np.ndarray | None = None,
) -> list[Verdict]:
    """THE verdict function: one :class:`Verdict` per row of ``scores``, in order.

    ``scores``: detector output for N images (a :class:`Scores`, or a
    :class:`~fakescope.detectors.base.Prediction`); ``paths`` [N]: names to report;
    ``threshold``: the raw P(fake) cut; ``calibrator``: optional calibration + band;
    ``ood_scores`` [N] (higher = more OOD, NaN = no score) and ``ood_flags`` [N]
    bool (True = above the abstainer's threshold), both or neither.
    """
    s = scores if isinstance(scores, Scores) else scores_from_prediction(scores)
    n = len(s)
    if len(paths) != n:
        raise ValueError(f"{len(paths)} paths for {n} predictions")
    if (ood_scores is None) != (ood_flags is None):
        raise ValueError("pass both ood_scores and ood_flags, or neither")
    p_raw = s.p_fake
    p_cal = p_raw if calibrator is None else calibrator.transform(p_raw, logit=s.logit)
    base = cut(p_raw, threshold)
    band = None if calibrator is None else calibrator.band
    real_in, fake_in = band.sets(p_raw) if band is not None else (None, None)
    suffix = UNCALIBRATED if calibrator is None else ""
    out = []
    for i in range(n):
        path = str(paths[i])
        score = None if ood_scores is None else _num(float(ood_scores[i]))
        side, fake_cls = base[i], s.fake_class[i]
        if side is None or (side == FAKE and fake_cls is None):
            out.append(error_verdict(path, s.errors[i], ood_score=score))
            continue
        ood = ood_flags is not None and bool(ood_flags[i]) and score is not None
        if ood:
            verdict, reason = UNSURE, REASON_OOD
        elif (
            real_in is not None
            and fake_in is not None
            and not _singleton(bool(real_in[i]), bool(fake_in[i]), side)
        ):
            verdict, reason = UNSURE, REASON_BAND
        else:
            verdict = side
            reason = (REASON_ABOVE if side == FAKE else REASON_BELOW) + suffix
        cls = REAL if side == REAL else fake_cls
        out.append(
            Verdict(
                path,
                float(p_cal[i]),
                float(p_raw[i]),
                verdict,
                reason,
                score,
                cls,
                s.errors[i],
                ood=ood,
            )
        )
    return out


def _singleton(real_in: bool, fake_in: bool, side: str) -> bool:
    """True when the conformal set is exactly ``{side}``."""
    return (real_in, fake_in) == ((True, False) if side == REAL else (False, True))


def merge_faces(
    name: str,
    whole: Verdict | None,
    faces: Sequence[FaceVerdict],
) -> Verdict:
    """The image verdict from its faces: the most-fake face's (highest raw P(fake)).

    ``faces``: every detected face with its crop's verdict (any path); when empty,
    ``whole`` (the whole image's verdict) is used, reason prefixed "no face found".
    """
    if not faces:
        if whole is None:
            raise ValueError("merge_faces needs the whole image's verdict when no face was found")
        reason = f"{REASON_NO_FACE}; {whole.reason}" if whole.reason else REASON_NO_FACE
        return replace(whole, path=name, reason=reason, faces=())
    per_face = tuple(replace(f, verdict=replace(f.verdict, path=name)) for f in faces)
    top = max(
        per_face,
        key=lambda f: -1.0 if f.verdict.p_fake_raw is None else f.verdict.p_fake_raw,
    )
    count = f"most-fake of {len(per_face)} faces" if len(per_face) > 1 else "1 face"
    reason = f"{top.verdict.reason}; {count}" if top.verdict.reason else count
    return replace(top.verdict, reason=reason, faces=per_face)
