"""ONNX export of a ``cnn`` detector scored by its SVM head (``loss: triplet``).

timm's ``test_resnet`` at 32 px, one epoch on a few dozen PNGs: parity is about
the graph (network + StandardScaler + RBF SVM + Platt scaling), not accuracy.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fakescope.detectors.cnn import CNNDetector
from fakescope.detectors.export import CNNSvmExport
from fakescope.errors import FakescopeError
from fakescope.inference.onnx_export import export_onnx
from fakescope.inference.onnx_runtime import OnnxDetector
from tests.detectors.test_cnn import BASE, table

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, pd.DataFrame]:
    root = tmp_path_factory.mktemp("svm-export-data")
    return {"train": table(root, "train", 24, 0), "test": table(root, "test", 12, 2000)}


def test_triplet_svm_head_exports_and_matches_torch(
    data: dict[str, pd.DataFrame], tmp_path: Path
) -> None:
    det = CNNDetector({**BASE, "epochs": 1, "loss": "triplet", "loss_params": {"svm_per_class": 8}})
    det.fit(data["train"])
    assert isinstance(det.export_module(), CNNSvmExport)
    bundle = det.save(tmp_path / "b")
    report = export_onnx(bundle)
    assert report.max_diff_proba <= 1e-4
    onnx = OnnxDetector.from_bundle(bundle, threads=1)
    paths = data["test"]["path"].tolist() + data["train"]["path"].tolist()
    p_torch, p_onnx = det.predict_proba(paths), onnx.predict_proba(paths)
    assert p_torch.std() > 1e-3, "scores barely vary: agreement would be trivial"
    np.testing.assert_allclose(p_onnx, p_torch, rtol=0, atol=1e-4)
    f_torch, f_onnx = det.features(paths[:8]), onnx.features(paths[:8])
    np.testing.assert_allclose(f_onnx.logits, f_torch.logits, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(f_onnx.embedding, f_torch.embedding, rtol=1e-4, atol=1e-4)


def test_multiclass_svm_head_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "data"
    train = table(root, "train", 24, 0, gens=("gen_a", "gen_b"))
    det = CNNDetector(
        {
            **BASE,
            "epochs": 1,
            "loss": "triplet",
            "target": "generator",
            "loss_params": {"svm_per_class": 4},
        }
    )
    det.fit(train)
    assert len(det.check_fitted()) == 3
    with pytest.raises(FakescopeError, match="only a binary RBF SVM head"):
        det.export_module()
