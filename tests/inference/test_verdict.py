"""VerdictModel: bundles with and without calibration / abstainer, both input kinds, OOD."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from fakescope.data.index import index_dataset
from fakescope.data.schema import SPLIT
from fakescope.errors import ConfigError
from fakescope.inference.verdict import NO_CALIBRATION, REASON_OOD, VerdictModel
from tests.cli.tiny_detector import (
    TinyDetector,
    make_dataset,
    tiny_registered,  # noqa: F401 - autouse fixture
)
from tests.conftest import write_image


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
    assert out[0].verdict == "unsure" and out[0].reason == REASON_OOD and out[0].ood
    assert all(v.verdict == "unsure" and v.reason == REASON_OOD for v in out if v.ood)
    assert ab.threshold_ is not None and out[0].ood_score is not None
    assert out[0].ood_score > ab.threshold_
    assert all(v.ood_score is not None for v in out)
    (img_v,) = vm.decide_images([Image.open(odd)])
    assert img_v.reason == REASON_OOD and img_v.ood
    assert json.loads(json.dumps(vm.info()))["ood"]["threshold"] == ab.threshold_
