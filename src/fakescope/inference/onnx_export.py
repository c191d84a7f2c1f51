"""Export a bundle's detector to ``model.onnx`` in the bundle, verified against torch.

:func:`export_onnx` loads the bundle on CPU, takes the detector's export
module (:meth:`fakescope.detectors.base.Detector.export_module`: a
preprocessed batch ``input`` [B, 3, H, W] float32 -> ``proba`` [B, C],
``logits`` [B, C], ``embedding`` [B, D], batch axis dynamic), traces it with
``torch.onnx.export`` (TorchScript exporter, ``dynamo=False``: the dynamo
exporter needs onnxscript) and records in the graph's ``metadata_props`` the
preprocessing (the detector's :class:`~fakescope.data.transforms.InputConfig`:
size, mean/std, resize rule), the classes and the sha256 of the bundle's
``model.safetensors`` (so a retrained bundle's stale export is refused).

Before anything is written, onnxruntime runs the graph on a few generated
batches (seeded noise and smooth gradients, batch sizes 1 and ``n_check - 1``)
and compares P(class) with the detector's own torch path
(:meth:`~fakescope.detectors.base.Detector._features_batch`); above ``tol``
(default 1e-4) the export is refused. The file is written atomically via
:mod:`fakescope.fileio`.
"""

from __future__ import annotations

import io
import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch

import fakescope
from fakescope.errors import FakescopeError
from fakescope.fileio import atomic_write_bytes
from fakescope.inference.onnx_runtime import (
    INPUT,
    KEY_CHECK,
    KEY_CLASSES,
    KEY_DETECTOR,
    KEY_EMBED,
    KEY_FORMAT,
    KEY_INPUT,
    KEY_VERSION,
    KEY_WEIGHTS,
    ONNX_FILE,
    ONNX_FORMAT,
    OUTPUTS,
    weights_sha256,
)

#: Largest allowed max |p_torch - p_onnx| over the check batches.
TOLERANCE = 1e-4
#: The ONNX opset written.
OPSET = 17


@dataclass(frozen=True)
class ExportReport:
    """What :func:`export_onnx` wrote: ``path``, the parity check (max abs differences
    of proba / logits / embedding over ``n_checked`` generated inputs) and the file size."""

    path: Path
    max_diff_proba: float
    max_diff_logits: float
    max_diff_embedding: float
    n_checked: int
    size_bytes: int

    def line(self) -> str:
        """One line for the CLI."""
        return (
            f"wrote {self.path} ({self.size_bytes / 1e6:.1f} MB); onnxruntime vs torch on "
            f"{self.n_checked} generated inputs: max |dp| = {self.max_diff_proba:.2e}, "
            f"max |dlogits| = {self.max_diff_logits:.2e}, "
            f"max |dembedding| = {self.max_diff_embedding:.2e}"
        )


def check_inputs(size: int, n: int, seed: int = 0) -> list[torch.Tensor]:
    """Generated preprocessed batches [b, 3, size, size]: a single image, then ``n - 1``
    images mixing N(0, 1) noise and smooth gradients (different batch sizes test the
    dynamic axis)."""
    gen = torch.Generator().manual_seed(seed)
    n = max(2, n)
    noise = torch.randn(n, 3, size, size, generator=gen)
    ramp = torch.linspace(-2.0, 2.0, size)
    smooth = (ramp[None, None, :, None] * torch.rand(n, 3, 1, 1, generator=gen)) + ramp[
        None, None, None, :
    ] * torch.rand(n, 3, 1, 1, generator=gen)
    x = torch.where(torch.arange(n)[:, None, None, None] % 2 == 0, noise, smooth)
    return [x[:1], x[1:]]


def _serialize(module: torch.nn.Module, example: torch.Tensor) -> bytes:
    """The traced ONNX graph of ``module`` as bytes (dynamic batch axis)."""
    buf = io.BytesIO()
    axes = {INPUT: {0: "batch"}, **{name: {0: "batch"} for name in OUTPUTS}}
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # tracer warnings about Python control flow
        torch.onnx.export(
            module,
            (example,),
            cast(Any, buf),  # a file object works; the stub only names paths
            input_names=[INPUT],
            output_names=list(OUTPUTS),
            dynamic_axes=axes,
            opset_version=OPSET,
            do_constant_folding=True,
            dynamo=False,
        )
    return buf.getvalue()


def _with_metadata(raw: bytes, props: dict[str, str]) -> bytes:
    import onnx

    model = onnx.load_from_string(raw)
    onnx.helper.set_model_props(model, props)
    return model.SerializeToString()


def export_onnx(
    bundle_dir: str | Path, *, tol: float = TOLERANCE, n_check: int = 8, seed: int = 0
) -> ExportReport:
    """Write ``model.onnx`` into ``bundle_dir`` after a parity check (see module docstring).

    Raises :class:`FakescopeError` (one line) when the detector cannot be
    exported or onnxruntime disagrees with torch by more than ``tol``.
    """
    import onnxruntime as ort

    from fakescope.bundle import load_bundle
    from fakescope.inference.onnx_runtime import session_options

    directory = Path(bundle_dir).expanduser()
    detector = load_bundle(directory, device="cpu")
    classes = detector.check_fitted()
    module = detector.export_module()
    cfg = detector.input_config
    batches = check_inputs(cfg.size, n_check, seed)
    with torch.no_grad():
        probe = module(batches[0])
    if len(probe) != 3 or probe[0].shape[1] != len(classes):
        raise FakescopeError(
            f"the {detector.name} export module must return (proba [B, {len(classes)}], "
            "logits, embedding); fix its export_module"
        )
    props = {
        KEY_FORMAT: str(ONNX_FORMAT),
        KEY_INPUT: json.dumps(cfg.model_dump(mode="json"), sort_keys=True),
        KEY_CLASSES: json.dumps(list(classes)),
        KEY_WEIGHTS: weights_sha256(directory),
        KEY_DETECTOR: detector.name,
        KEY_EMBED: str(int(probe[2].shape[1])),
        KEY_VERSION: fakescope.__version__,
    }
    raw = _serialize(module, batches[-1])
    session = ort.InferenceSession(raw, session_options(), providers=["CPUExecutionProvider"])
    diffs = np.zeros(3)
    for x in batches:
        want = detector._features_batch(x)[:3]
        got = session.run(list(OUTPUTS), {INPUT: x.numpy()})
        for k in range(3):
            d = np.abs(np.asarray(want[k], np.float64) - np.asarray(got[k], np.float64))
            diffs[k] = max(diffs[k], float(np.nanmax(d)) if d.size else 0.0)
    if not diffs[0] <= tol:  # also refuses NaN
        raise FakescopeError(
            f"onnxruntime and torch disagree on {detector.name}: max |p_torch - p_onnx| = "
            f"{diffs[0]:.2e} > {tol:.0e}; not writing {ONNX_FILE} - keep the torch backend"
        )
    props[KEY_CHECK] = f"{diffs[0]:.3e}"
    data = _with_metadata(raw, props)
    path = atomic_write_bytes(directory / ONNX_FILE, data)
    n = sum(len(x) for x in batches)
    return ExportReport(path, float(diffs[0]), float(diffs[1]), float(diffs[2]), n, len(data))
