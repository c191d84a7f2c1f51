"""ONNX export of the ``general`` detector (frozen taps + NPR branch + head).

A random-init detector on timm's ``test_efficientnet`` at 32 px (no training):
parity is about the graph, not accuracy. The head's last layer is scaled up so
P(fake) spreads over (0, 1) and agreement cannot be trivial. Every export goes
through the public path: ``save`` -> ``export_onnx`` -> ``OnnxDetector``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from fakescope.detectors.export import GeneralExport
from fakescope.detectors.general import GeneralDetector
from fakescope.inference.onnx_export import export_onnx
from fakescope.inference.onnx_runtime import OnnxDetector
from tests.conftest import write_image

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

TINY: dict[str, Any] = {
    "backbone": "test_efficientnet",
    "pretrained": False,
    "img_size": 32,
    "batch_size": 5,  # 12 images -> batches of 5, 5, 2: the dynamic batch axis
    "num_workers": 0,
    "progress": False,
    "tap_dim": 8,
    "npr_channels": 4,
    "hidden": 8,
}
#: The head's output layer (GeneralNet.head = Linear, GELU, Dropout, Linear).
HEAD_OUT = "head.3"


def random_general(
    seed: int = 0, *, spread: list[Path] | None = None, **params: Any
) -> GeneralDetector:
    """A fitted-looking ``general`` detector with random weights.

    ``spread``: images on which the head's output layer is rescaled so that the
    logit difference (fake - real) has mean 0 and std 2 there, i.e. P(fake)
    spreads over (0, 1) instead of sitting near one value.
    """
    det = GeneralDetector({**TINY, **params})
    det.classes_ = ["real", "fake"]
    torch.manual_seed(seed)
    det.load_state(det.new_network(2, start=False).state_dict(), Path())
    if spread:
        d = np.diff(det.features(spread).logits, axis=1)[:, 0].astype(np.float64)
        scale = 2.0 / max(float(d.std()), 1e-6)
        state = det.state_tensors()
        w, b = state[f"{HEAD_OUT}.weight"], state[f"{HEAD_OUT}.bias"]
        state[f"{HEAD_OUT}.weight"] = w * scale
        shift = scale * (float(b[1] - b[0]) - float(d.mean()))
        state[f"{HEAD_OUT}.bias"] = torch.tensor([0.0, shift], dtype=b.dtype)
        det.load_state(state, Path())
    return det


def perturbed(det: GeneralDetector, prefix: str, seed: int = 1) -> GeneralDetector:
    """A copy of ``det`` whose float tensors named ``prefix*`` (weights, not BN counters)
    get N(0, 0.5) noise times their own scale; everything else is unchanged."""
    gen = torch.Generator().manual_seed(seed)
    state = det.state_tensors()
    touched = 0
    for name, t in state.items():
        if name.startswith(prefix) and name.endswith("weight") and t.is_floating_point():
            noise = torch.randn(t.shape, generator=gen) * 0.5 * (t.abs().mean() + 1e-3)
            state[name] = t + noise
            touched += 1
    assert touched, f"no tensor starts with {prefix!r}"
    out = GeneralDetector(det.params)
    out.classes_ = list(det.check_fitted())
    out.load_state(state, Path())
    return out


def exported(det: GeneralDetector, where: Path) -> OnnxDetector:
    """Save ``det`` as a bundle at ``where``, export it, load the ONNX backend."""
    det.save(where)
    report = export_onnx(where)
    assert report.max_diff_proba <= 1e-4
    return OnnxDetector.from_bundle(where, threads=1)


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """12 tiny PNGs of three sizes: cropped (48), exact (32) and padded (24) by the input rule."""
    root = tmp_path_factory.mktemp("export-general")
    sizes = (48, 32, 24)
    return [
        write_image(root / f"{i}.png", seed=i, size=sizes[i % 3], fake=i % 2 == 1, fmt="PNG")
        for i in range(12)
    ]


@pytest.fixture(scope="module")
def base(
    tmp_path_factory: pytest.TempPathFactory, images: list[Path]
) -> tuple[GeneralDetector, OnnxDetector]:
    """The random detector (P(fake) spread over the images) and its exported ONNX backend."""
    det = random_general(spread=images)
    return det, exported(det, tmp_path_factory.mktemp("bundle") / "general")


def test_onnx_p_fake_matches_torch_on_a_batch(
    base: tuple[GeneralDetector, OnnxDetector], images: list[Path]
) -> None:
    det, onnx = base
    assert onnx.detector_name == "general" and onnx.input_config == det.input_config
    p_torch = det.predict_proba(images)
    p_onnx = onnx.predict_proba(images)
    assert p_onnx.shape == (12,) and np.isfinite(p_onnx).all()
    assert p_torch.std() > 0.1, "scores barely vary: agreement would be trivial"
    np.testing.assert_allclose(p_onnx, p_torch, rtol=0, atol=1e-4)
    f_torch, f_onnx = det.features(images), onnx.features(images)
    assert f_onnx.embedding.shape == (12, det.embedding_dim) == (12, 16)
    np.testing.assert_allclose(f_onnx.embedding, f_torch.embedding, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(f_onnx.logits, f_torch.logits, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(
    "prefix",
    ["npr.", "taps.model.", "projs."],
    ids=["npr-branch", "frozen-backbone", "tap-projections"],
)
def test_export_follows_each_branch_weights(
    prefix: str,
    base: tuple[GeneralDetector, OnnxDetector],
    images: list[Path],
    tmp_path: Path,
) -> None:
    """Perturbing one branch moves torch's P(fake); the new export must move with it (a
    graph that dropped or constant-folded that branch would still give the old scores)."""
    det, onnx = base
    changed = perturbed(det, prefix)
    p_old, p_new = det.predict_proba(images), changed.predict_proba(images)
    assert np.abs(p_new - p_old).max() > 1e-2, f"perturbing {prefix}* barely changed torch"
    onnx_new = exported(changed, tmp_path / "b")
    q_new = onnx_new.predict_proba(images)
    np.testing.assert_allclose(q_new, p_new, rtol=0, atol=1e-4)
    assert np.abs(q_new - onnx.predict_proba(images)).max() > 1e-2


@pytest.mark.parametrize(
    "params",
    [
        {"npr_channels": 0, "taps": None, "final": True},
        {"branch_input": "pixels", "pool": "mean", "taps": [1, 2]},
    ],
    ids=["no-npr-all-taps-final", "pixel-branch-mean-pool"],
)
def test_variants_export(params: dict[str, Any], images: list[Path], tmp_path: Path) -> None:
    det = random_general(seed=2, spread=images, **params)
    onnx = exported(det, tmp_path / "b")
    np.testing.assert_allclose(
        onnx.predict_proba(images), det.predict_proba(images), rtol=0, atol=1e-4
    )
    assert onnx.embedding_dim == det.embedding_dim


def test_export_module_is_a_cpu_copy_of_the_torch_path() -> None:
    det = random_general()
    module = det.export_module()
    assert isinstance(module, GeneralExport) and not module.training
    assert module.net is not det._model()  # a copy: exporting never moves the detector
    x = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        proba, logits, emb = module(x)
    want = det._features_batch(x)
    np.testing.assert_allclose(proba.numpy(), want[0], atol=1e-6)
    np.testing.assert_allclose(logits.numpy(), want[1], atol=1e-6)
    np.testing.assert_allclose(emb.numpy(), want[2], atol=1e-6)
