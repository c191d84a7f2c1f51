"""ONNX export + onnxruntime backend: parity with torch, OOD on the ONNX outputs, refusals.

A random-init timm ``test_resnet`` at 32 px (no training) is enough: parity is
about the graph, not about accuracy; its outputs vary across images, so a
broken export cannot match by accident.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from fakescope.data.schema import Sample, make_table
from fakescope.detectors.cnn import CNNDetector
from fakescope.errors import BundleError, FakescopeError
from fakescope.inference.onnx_export import export_onnx
from fakescope.inference.onnx_runtime import ONNX_FILE, OnnxDetector
from fakescope.inference.verdict import VerdictModel
from tests.cli.tiny_detector import (
    TinyDetector,
    make_dataset,
    tiny_registered,  # noqa: F401 - autouse fixture
)
from tests.conftest import write_image

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")


def random_cnn(seed: int = 0, loss: str = "ce") -> CNNDetector:
    """A fitted-looking cnn detector with random weights (no training)."""
    det = CNNDetector(
        {"arch": "test_resnet", "img_size": 32, "batch_size": 16, "num_workers": 0, "loss": loss}
    )
    det.classes_ = ["real", "fake"]
    torch.manual_seed(seed)
    net = det._create(2, start=False)
    det._restore(dict(net.state_dict()), Path())
    return det


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """200 tiny PNGs (half with a checkerboard 'fake' trace), sizes 32 and 48."""
    root = tmp_path_factory.mktemp("onnx-img")
    return [
        write_image(root / f"{i}.png", seed=i, size=32 if i % 3 else 48, fake=i % 2 == 1, fmt="PNG")
        for i in range(200)
    ]


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cnn bundle with its model.onnx."""
    path = random_cnn().save(tmp_path_factory.mktemp("onnx") / "bundle")
    export_onnx(path)
    return path


def test_parity_on_200_images(bundle: Path, images: list[Path]) -> None:
    torch_vm = VerdictModel.load(bundle)
    onnx_vm = VerdictModel.load(bundle, backend="onnxruntime")
    assert onnx_vm.backend == "onnxruntime" and torch_vm.backend == "torch"
    assert onnx_vm.info()["detector"] == "cnn" and onnx_vm.threshold == torch_vm.threshold
    a = torch_vm.decide_paths(images)
    b = onnx_vm.decide_paths(images)
    p_t = np.array([v.p_fake_raw for v in a], dtype=np.float64)
    p_o = np.array([v.p_fake_raw for v in b], dtype=np.float64)
    assert len(p_o) == 200 and np.isfinite(p_o).all()
    assert p_t.std() > 1e-3  # the scores vary, so agreement is not trivial
    assert np.abs(p_t - p_o).max() <= 1e-4
    near = np.abs(p_t - torch_vm.threshold) < 1e-4
    assert all(x.verdict == y.verdict for x, y, n in zip(a, b, near, strict=True) if not n)
    # the embedding (for OOD scorers) matches too
    det = torch_vm.detector
    f_t = det.features(images[:20])
    f_o = onnx_vm.detector.features(images[:20])
    np.testing.assert_allclose(f_o.embedding, f_t.embedding, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(f_o.logits, f_t.logits, rtol=1e-4, atol=1e-4)


def test_ood_scores_agree_across_backends(bundle: Path, images: list[Path], tmp_path: Path) -> None:
    from fakescope.ood.abstain import Abstainer

    rows = [Sample(str(p), i % 2, generator="g" if i % 2 else "") for i, p in enumerate(images)]
    train, val = make_table(rows[:60]), make_table(rows[60:100])
    copy = tmp_path / "b"
    shutil.copytree(bundle, copy)
    det = VerdictModel.load(copy).detector
    Abstainer.fit(det, train, val).save(copy)
    t = VerdictModel.load(copy).decide_paths(images[100:140])
    o = VerdictModel.load(copy, backend="onnxruntime").decide_paths(images[100:140])
    s_t = np.array([v.ood_score for v in t], dtype=np.float64)
    s_o = np.array([v.ood_score for v in o], dtype=np.float64)
    assert np.isfinite(s_o).all() and s_t.std() > 0
    np.testing.assert_allclose(s_o, s_t, rtol=1e-3, atol=1e-4)


def test_missing_export_says_how_to_make_it(tmp_path: Path) -> None:
    path = random_cnn().save(tmp_path / "b")
    with pytest.raises(BundleError, match=r"no model\.onnx; run fakescope export .* --format onnx"):
        VerdictModel.load(path, backend="onnxruntime")


def test_stale_export_is_refused(tmp_path: Path) -> None:
    path = random_cnn(seed=0).save(tmp_path / "b")
    export_onnx(path)
    keep = (path / ONNX_FILE).read_bytes()
    random_cnn(seed=1).save(path)  # retrained: new weights, the bundle dir is replaced
    (path / ONNX_FILE).write_bytes(keep)
    with pytest.raises(BundleError, match=r"stale.*re-export"):
        OnnxDetector.from_bundle(path)
    export_onnx(path)  # re-exporting fixes it
    assert OnnxDetector.from_bundle(path).classes_ == ["real", "fake"]


def test_preprocessing_mismatch_is_refused(bundle: Path, tmp_path: Path) -> None:
    copy = tmp_path / "b"
    shutil.copytree(bundle, copy)
    meta = json.loads((copy / "meta.json").read_text())
    meta["input"]["size"] = 64
    (copy / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(BundleError, match="preprocesses as"):
        OnnxDetector.from_bundle(copy)


def test_export_refuses_when_onnx_disagrees(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = random_cnn().save(tmp_path / "b")
    honest = CNNDetector._features_batch

    def shifted(self: CNNDetector, x: torch.Tensor) -> tuple[np.ndarray, ...]:
        p, lg, e = honest(self, x)[:3]
        shift = np.array([[2e-4, -2e-4]], dtype=np.float32)
        return p + shift, lg, e

    monkeypatch.setattr(CNNDetector, "_features_batch", shifted)
    with pytest.raises(FakescopeError, match="disagree"):
        export_onnx(path)
    assert not (path / ONNX_FILE).exists()


def test_embedding_loss_exports(tmp_path: Path, images: list[Path]) -> None:
    path = random_cnn(loss="dmyt").save(tmp_path / "b")
    report = export_onnx(path)
    assert report.max_diff_proba <= 1e-4 and report.path.name == ONNX_FILE
    p_t = VerdictModel.load(path).detector.predict(images[:30]).p_fake
    p_o = OnnxDetector.from_bundle(path).predict(images[:30]).p_fake
    assert np.abs(p_t - p_o).max() <= 1e-4


def test_detector_without_export_module_says_so(tmp_path: Path) -> None:
    root = make_dataset(tmp_path / "ds", n=4)
    from fakescope.data.index import index_dataset

    table = index_dataset(root)
    det = TinyDetector({"steps": 10, "num_workers": 0}).fit(table)
    path = det.save(tmp_path / "b")
    with pytest.raises(FakescopeError, match=r"cannot be exported to ONNX.*--backend torch"):
        export_onnx(path)


def probe_bundle(tmp_path: Path, images: list[Path], head: str) -> Path:
    from fakescope.detectors.probe import ProbeDetector

    rows = [Sample(str(p), i % 2, generator="g" if i % 2 else "") for i, p in enumerate(images)]
    params = {
        "backbone": "timm:test_resnet",
        "pretrained": False,
        "img_size": 32,
        "num_workers": 0,
        "batch_size": 16,
        "cache_dir": None,
        "head": head,
    }
    det = ProbeDetector(params).fit(make_table(rows[:40]))
    return det.save(tmp_path / head)


def test_logistic_probe_exports_and_matches(tmp_path: Path, images: list[Path]) -> None:
    path = probe_bundle(tmp_path, images, "logistic")
    export_onnx(path)
    f_t = VerdictModel.load(path).detector.features(images[100:130])
    f_o = OnnxDetector.from_bundle(path).features(images[100:130])
    assert f_t.p_fake.std() > 1e-3
    assert np.abs(f_t.proba - f_o.proba).max() <= 1e-4
    np.testing.assert_allclose(f_o.logits, f_t.logits, rtol=1e-4, atol=1e-3)


def test_probe_with_a_knn_head_is_refused(tmp_path: Path, images: list[Path]) -> None:
    path = probe_bundle(tmp_path, images, "knn")
    with pytest.raises(FakescopeError, match="KNeighborsClassifier, not logistic regression"):
        export_onnx(path)
