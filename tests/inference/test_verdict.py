"""The one verdict function: rule order, class consistency, OOD, band, bundles with and without extras."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fakescope.data.index import index_dataset
from fakescope.data.schema import SPLIT
from fakescope.detectors.base import Prediction
from fakescope.errors import ConfigError
from fakescope.inference.calibration import Band, Calibrator
from fakescope.inference.verdict import (
    NO_CALIBRATION,
    REASON_BAND,
    REASON_OOD,
    VerdictModel,
    decide,
)
from tests.cli.tiny_detector import (
    TinyDetector,
    make_dataset,
    tiny_registered,  # noqa: F401 - autouse fixture
)
from tests.conftest import write_image


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
    assert [v.verdict for v in out] == ["real", "fake", "", "fake"]  # p >= t is fake
    assert out[0].reason == "below threshold (uncalibrated)"
    assert out[1].reason == "above threshold (uncalibrated)"
    assert out[1].p_fake == out[1].p_fake_raw == pytest.approx(0.7)
    assert out[2].error == "bad file" and out[2].p_fake is None and out[2].cls == ""
    assert [v.ood_score for v in out] == [None] * 4


def test_band_makes_the_middle_unsure_and_ood_wins() -> None:
    cal = identity_calibrator(real_max=0.3, fake_min=0.7)
    p = [0.1, 0.5, 0.9, 0.95, 0.65]
    flags = np.array([False, False, False, True, False])
    scores = np.array([1.0, 2.0, 3.0, 50.0, 1.0])
    out = decide(
        pred(p), list("abcde"), threshold=0.5, calibrator=cal, ood_scores=scores, ood_flags=flags
    )
    assert [v.verdict for v in out] == ["real", "unsure", "fake", "unsure", "unsure"]
    assert out[1].reason == REASON_BAND  # set {real, fake} would be wrong: p=.5 is in neither
    assert out[3].reason == REASON_OOD and out[3].p_fake == pytest.approx(
        0.95
    )  # confident, still unsure
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
    assert [(v.verdict, v.cls) for v in out] == [
        (
            "fake",
            "diffusion",
        ),  # p_fake .5 >= .45 -> the most probable fake class, not argmax "real"
        ("fake", "gan"),
        ("real", "real"),
    ]


def test_decide_checks_its_inputs() -> None:
    with pytest.raises(ValueError, match="paths"):
        decide(pred([0.1]), ["a", "b"], threshold=0.5)
    with pytest.raises(ValueError, match="both"):
        decide(pred([0.1]), ["a"], threshold=0.5, ood_scores=np.array([1.0]))


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, TinyDetector, Path]:
    from fakescope.detectors.base import DETECTORS

    if "tiny-test" not in DETECTORS:
        DETECTORS.register("tiny-test")(TinyDetector)
    root = make_dataset(tmp_path_factory.mktemp("vd") / "ds", n=6, generators=("gan",))
    table = index_dataset(root)
    det = TinyDetector({"steps": 100, "num_workers": 0})
    det.fit(table[table[SPLIT] == "train"], table[table[SPLIT] == "val"])
    return det.save(tmp_path_factory.mktemp("vd") / "bundle"), det, root


def test_bundle_without_extras_works_and_explains(
    tiny: tuple[Path, TinyDetector, Path], tmp_path: Path
) -> None:
    bundle, det, _ = tiny
    vm = VerdictModel.load(bundle)
    assert vm.calibrator is None and vm.abstainer is None
    assert NO_CALIBRATION in vm.notes() and "fakescope train" in NO_CALIBRATION
    info = json.loads(json.dumps(vm.info()))
    assert info["calibration"] is None and info["ood"] is None
    assert info["threshold"] == info["threshold_raw"] == det.threshold_
    img = write_image(tmp_path / "a.png", 1, fmt="PNG")
    (v,) = vm.decide_paths([img])
    raw = float(det.predict([img]).p_fake[0])
    assert v.p_fake == pytest.approx(raw) and v.verdict in {"real", "fake"}
    (w,) = vm.decide_images([Image.open(img)], ["upload.png"])
    assert w.path == "upload.png" and w.p_fake == pytest.approx(raw, abs=1e-6)
    with pytest.raises(ConfigError, match="backend"):
        VerdictModel.load(bundle, backend="onnx")
    with pytest.raises(ConfigError, match="threshold"):
        vm.decide_paths([img], threshold=2.0)


def test_ood_image_is_unsure_with_a_real_abstainer(
    tiny: tuple[Path, TinyDetector, Path], tmp_path: Path
) -> None:
    from fakescope.ood.abstain import Abstainer

    _, det, root = tiny
    table = index_dataset(root)
    ab = Abstainer.fit(det, table[table[SPLIT] == "train"], table[table[SPLIT] == "val"])
    copy = tmp_path / "b"
    det.save(copy)
    ab.save(copy)
    vm = VerdictModel.load(copy)
    assert vm.abstainer is not None
    odd = tmp_path / "green.png"
    Image.new("RGB", (32, 32), (0, 255, 0)).save(odd)
    normal = table[table[SPLIT] == "test"]["path"].tolist()[:4]
    out = vm.decide_paths([odd, *normal])
    assert out[0].verdict == "unsure" and out[0].reason == REASON_OOD
    assert ab.threshold_ is not None and out[0].ood_score is not None
    assert out[0].ood_score > ab.threshold_
    assert all(v.ood_score is not None for v in out)
    (img_v,) = vm.decide_images([Image.open(odd)])
    assert img_v.reason == REASON_OOD
    assert json.loads(json.dumps(vm.info()))["ood"]["threshold"] == ab.threshold_
