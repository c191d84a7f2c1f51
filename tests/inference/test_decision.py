"""THE decision path: rule order, class consistency, OOD flag, band, errors, faces, logits."""

from __future__ import annotations

import numpy as np
import pytest

from fakescope.detectors.base import Prediction
from fakescope.inference.calibration import Band, Calibrator
from fakescope.inference.decision import (
    decide,
    error_verdict,
    fake_logit,
    merge_faces,
    scores_from_prediction,
)
from fakescope.inference.types import REASON_BAND, REASON_OOD, FaceVerdict, Scores, Verdict


def pred(p_fake: list[float], classes: list[str] | None = None) -> Prediction:
    p = np.array(p_fake, dtype=np.float64)
    proba = np.stack([1 - p, p], axis=1)
    return Prediction(
        proba, ["bad file" if np.isnan(x) else "" for x in p], classes or ["real", "fake"]
    )


def identity_calibrator(real_max: float, fake_min: float) -> Calibrator:
    """Isotonic identity map with a given band (so p_fake == p_fake_raw)."""
    band = Band(0.05, real_max, fake_min, 100, 100)
    return Calibrator("isotonic", {"x": [0.0, 1.0], "y": [0.0, 1.0]}, band, "test band", 200)


def test_without_calibration_the_threshold_decides_and_says_uncalibrated() -> None:
    out = decide(pred([0.2, 0.7, np.nan, 0.6]), ["a", "b", "c", "d"], threshold=0.6)
    assert [v.verdict for v in out] == ["real", "fake", None, "fake"]  # p >= t is fake
    assert out[0].reason == "below threshold (uncalibrated)"
    assert out[1].reason == "above threshold (uncalibrated)"
    assert out[1].p_fake == out[1].p_fake_raw == pytest.approx(0.7)
    assert out[2].error == "bad file" and out[2].p_fake is None and out[2].cls is None
    assert [v.ood_score for v in out] == [None] * 4 and not any(v.ood for v in out)


def test_band_makes_the_middle_unsure_and_ood_wins() -> None:
    cal = identity_calibrator(real_max=0.3, fake_min=0.7)
    p = [0.1, 0.5, 0.9, 0.95, 0.65]
    flags = np.array([False, False, False, True, False])
    scores = np.array([1.0, 2.0, 3.0, 50.0, 1.0])
    out = decide(
        pred(p), list("abcde"), threshold=0.5, calibrator=cal, ood_scores=scores, ood_flags=flags
    )
    assert [v.verdict for v in out] == ["real", "unsure", "fake", "unsure", "unsure"]
    assert [v.ood for v in out] == [False, False, False, True, False]
    assert out[1].reason == REASON_BAND  # set {real, fake} would be wrong: p=.5 is in neither
    assert out[3].reason == REASON_OOD and out[3].p_fake == pytest.approx(0.95)
    assert out[4].reason == REASON_BAND  # threshold says fake, the set says neither class
    assert out[0].reason == "below threshold" and out[2].reason == "above threshold"
    assert out[3].ood_score == 50.0


def test_set_of_the_other_class_is_unsure() -> None:
    # set {fake} (p >= fake_min, p > real_max) but the caller's threshold says real
    out = decide(pred([0.55]), ["a"], threshold=0.6, calibrator=identity_calibrator(0.3, 0.5))
    assert out[0].verdict == "unsure" and out[0].cls == "real"


def test_class_follows_the_verdict_for_multiclass() -> None:
    proba = np.array([[0.5, 0.1, 0.4], [0.2, 0.5, 0.3], [0.7, 0.2, 0.1]])
    p = Prediction(proba, ["", "", ""], ["real", "gan", "diffusion"])
    out = decide(p, ["a", "b", "c"], threshold=0.45)
    # p_fake .5 >= .45 -> the most probable fake class, not the argmax "real"
    assert [(v.verdict, v.cls) for v in out] == [
        ("fake", "diffusion"),
        ("fake", "gan"),
        ("real", "real"),
    ]


def test_class_follows_a_detector_route() -> None:
    proba = np.array([[0.2, 0.5, 0.3]])
    routed = Prediction(proba, [""], ["real", "gan", "diffusion"], fake_route=np.array([2]))
    (v,) = decide(routed, ["a"], threshold=0.5)
    assert (v.verdict, v.cls) == ("fake", "diffusion")  # the route, not the fake argmax


def test_decide_checks_its_inputs() -> None:
    with pytest.raises(ValueError, match="paths"):
        decide(pred([0.1]), ["a", "b"], threshold=0.5)
    with pytest.raises(ValueError, match="both"):
        decide(pred([0.1]), ["a"], threshold=0.5, ood_scores=np.array([1.0]))


def test_error_verdict_has_no_verdict_and_keeps_the_wire_format() -> None:
    v = error_verdict("x.png", "cannot decode x.png")
    assert v.verdict is None and v.cls is None and v.p_fake is None and not v.ood
    assert v.error == "cannot decode x.png"
    d = v.to_dict()
    assert d["verdict"] == "" and d["class"] == "" and d["p_fake"] is None
    assert error_verdict("y.png", "").error  # never an error verdict without a message


def _face(p_raw: float, reason: str = "above threshold") -> FaceVerdict:
    v = Verdict("crop", p_raw, p_raw, "fake" if p_raw >= 0.5 else "real", reason, None, "x", "")
    return FaceVerdict((0, 0, 1, 1), (0, 0, 2, 2), v)


def test_merge_faces_takes_the_most_fake_face() -> None:
    faces = [_face(0.3, "below threshold"), _face(0.9), _face(0.6)]
    v = merge_faces("img.jpg", None, faces)
    assert v.p_fake_raw == 0.9 and v.verdict == "fake" and v.path == "img.jpg"
    assert v.reason == "above threshold; most-fake of 3 faces"
    assert v.faces is not None and [f.verdict.path for f in v.faces] == ["img.jpg"] * 3
    one = merge_faces("a.jpg", None, [_face(0.2, "below threshold")])
    assert one.reason == "below threshold; 1 face" and one.verdict == "real"


def test_merge_faces_without_a_face_uses_the_whole_image() -> None:
    whole = _face(0.7).verdict
    v = merge_faces("img.jpg", whole, [])
    assert v.faces == () and v.reason == "no face found; above threshold" and v.path == "img.jpg"
    with pytest.raises(ValueError, match="whole"):
        merge_faces("img.jpg", None, [])


def test_fake_logit_is_exact_for_softmax_logits_and_nan_otherwise() -> None:
    logits = np.array([[0.0, 30.0], [1.0, -2.0], [0.0, 5.0], [np.nan, np.nan]])
    proba = np.exp(logits - logits.max(1, keepdims=True))
    proba /= proba.sum(1, keepdims=True)
    proba = proba.astype(np.float32)  # as detectors return it
    z = fake_logit(proba, logits)
    assert z[0] == pytest.approx(30.0) and z[1] == pytest.approx(-3.0)
    assert np.isnan(z[3])
    # an SVM-like decision value that does not reproduce proba is not trusted
    wrong = logits.copy()
    wrong[2, 1] = 1.0
    assert np.isnan(fake_logit(proba, wrong)[2])
    # three classes: logit of P(fake) = logsumexp of the fake logits - the real logit
    three = np.array([[0.5, 1.0, 2.0]])
    p3 = np.exp(three) / np.exp(three).sum()
    expect = np.log(np.exp(1.0) + np.exp(2.0)) - 0.5
    assert fake_logit(p3, three)[0] == pytest.approx(expect)


def test_calibrated_p_fake_uses_the_model_logit_not_a_float32_probability() -> None:
    """A confident score: float32 P(fake) keeps ~1 digit of 1 - p, the logit keeps them all."""
    z_true = np.array([14.2, 15.9, -13.7])
    p32 = (1.0 / (1.0 + np.exp(-z_true))).astype(np.float32)
    proba = np.stack([1.0 - p32, p32], axis=1).astype(np.float32)
    cal = Calibrator("platt", {"a": 0.3, "b": 0.1}, None, "no band", 100)
    want = 1.0 / (1.0 + np.exp(-(0.3 * z_true + 0.1)))
    pr = Prediction(proba, ["", "", ""], ["real", "fake"])
    with_logit = decide(
        scores_from_prediction(pr, np.stack([0 * z_true, z_true], 1)),
        list("abc"),
        threshold=0.5,
        calibrator=cal,
    )
    got = np.array([v.p_fake for v in with_logit])
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-9)
    from_p = np.array([v.p_fake for v in decide(pr, list("abc"), threshold=0.5, calibrator=cal)])
    assert np.abs(from_p - want).max() > 1e-4  # what the float32 route lost


def test_scores_dataclass_drives_decide_directly() -> None:
    s = Scores(np.array([0.8, np.nan]), np.array([np.nan, np.nan]), ["fake", None], ["", "boom"])
    out = decide(s, ["a", "b"], threshold=0.5)
    assert out[0].verdict == "fake" and out[1].verdict is None and out[1].error == "boom"
