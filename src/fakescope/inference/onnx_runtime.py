"""Run a bundle's ``model.onnx`` with onnxruntime (CPU) behind the :class:`Detector` API.

:class:`OnnxDetector` reads ``meta.json`` (classes, threshold, input config)
and ``model.onnx`` from a bundle and implements the batch hooks with an
onnxruntime ``InferenceSession``; decoding and preprocessing are the torch
backend's own (:func:`fakescope.data.transforms.eval_transform` of the same
:class:`~fakescope.data.transforms.InputConfig`), so ``predict``,
``features`` and :class:`fakescope.inference.verdict.VerdictModel` work unchanged.

The graph maps a preprocessed batch ``input`` [B, 3, H, W] float32 to
``proba`` [B, C] (rows sum to 1; P(fake) = 1 - proba[:, 0], higher = more
fake), ``logits`` [B, C] and ``embedding`` [B, D]. Its ``metadata_props``
(written by :mod:`fakescope.inference.onnx_export`) record the input config, the
classes and the sha256 of the bundle's ``model.safetensors``; loading refuses
a missing, stale or mismatched export with a one-line error.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import yaml

from fakescope.bundle_format import CONFIG, WEIGHTS, read_meta
from fakescope.data.transforms import InputConfig
from fakescope.detectors.base import Detector, DetectorParams
from fakescope.errors import BundleError, FakescopeError

if TYPE_CHECKING:
    import pandas as pd

#: The exported graph, inside the bundle folder.
ONNX_FILE = "model.onnx"
INPUT = "input"
OUTPUTS = ("proba", "logits", "embedding")
#: ``metadata_props`` keys.
KEY_FORMAT = "fakescope.onnx_format"
KEY_INPUT = "fakescope.input"
KEY_CLASSES = "fakescope.classes"
KEY_WEIGHTS = "fakescope.weights_sha256"
KEY_DETECTOR = "fakescope.detector"
KEY_EMBED = "fakescope.embedding_dim"
KEY_VERSION = "fakescope.version"
KEY_CHECK = "fakescope.max_abs_diff_proba"
#: Bump when the graph's inputs/outputs change.
ONNX_FORMAT = 1


def weights_sha256(directory: Path) -> str:
    """sha256 (hex) of the bundle's ``model.safetensors``."""
    digest = hashlib.sha256()
    with (directory / WEIGHTS).open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def export_hint(directory: Path) -> str:
    """The command that (re)writes ``model.onnx`` for ``directory``."""
    return f"fakescope export {directory} --format onnx"


def session_options(threads: int | None = None) -> Any:
    """onnxruntime options: ``threads`` intra-op threads (default: torch's thread count)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = int(threads or torch.get_num_threads())
    opts.inter_op_num_threads = 1
    return opts


def check_export(directory: Path, props: dict[str, str], meta: dict[str, Any]) -> None:
    """Raise :class:`BundleError` when ``model.onnx``'s metadata does not match the bundle."""
    hint = export_hint(directory)
    if props.get(KEY_FORMAT) != str(ONNX_FORMAT):
        raise BundleError(
            f"{directory / ONNX_FILE} was not written by this fakescope's exporter "
            f"(format {props.get(KEY_FORMAT)}); re-export it: {hint}"
        )
    if props.get(KEY_WEIGHTS) != weights_sha256(directory):
        raise BundleError(
            f"{directory / ONNX_FILE} is stale: the bundle's {WEIGHTS} changed since the export; "
            f"re-export it: {hint}"
        )
    saved_input = InputConfig.model_validate(json.loads(props.get(KEY_INPUT, "{}")))
    bundle_input = InputConfig.model_validate(meta["input"])
    if saved_input != bundle_input:
        raise BundleError(
            f"{directory / ONNX_FILE} preprocesses as {saved_input.model_dump()} but the bundle "
            f"says {bundle_input.model_dump()}; re-export it: {hint}"
        )
    if json.loads(props.get(KEY_CLASSES, "[]")) != list(meta["classes"]):
        raise BundleError(
            f"{directory / ONNX_FILE} has other classes than the bundle; re-export it: {hint}"
        )


class OnnxDetector(Detector):
    """A bundle's ``model.onnx`` run by onnxruntime on CPU (inference only).

    Build with :meth:`from_bundle`. ``fit``, ``save`` and input-gradient OOD
    scorers (ODIN) are not available: they need the torch backend.
    """

    name = "onnx"

    def __init__(self, params: Any = None) -> None:
        super().__init__(params)
        self.session_: Any = None
        self.input_: InputConfig | None = None
        self.embedding_dim_ = 0
        self.detector_name = ""

    @classmethod
    def from_bundle(cls, bundle_dir: str | Path, *, threads: int | None = None) -> OnnxDetector:
        """Load ``model.onnx`` of a bundle after checking it is present, current and consistent."""
        import onnxruntime as ort

        directory = Path(bundle_dir).expanduser()
        meta = read_meta(directory)
        path = directory / ONNX_FILE
        if not path.is_file():
            raise BundleError(f"{directory} has no {ONNX_FILE}; run {export_hint(directory)}")
        try:
            session = ort.InferenceSession(
                str(path), session_options(threads), providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own exception types
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise BundleError(
                f"{path} cannot be loaded by onnxruntime ({first}); re-export it: {export_hint(directory)}"
            ) from None
        props = dict(session.get_modelmeta().custom_metadata_map)
        check_export(directory, props, meta)
        config = yaml.safe_load((directory / CONFIG).read_text()) or {}
        saved = dict(config.get("params") or {})
        shared = {k: saved[k] for k in DetectorParams.model_fields if k in saved and k != "device"}
        det = cls(shared)
        det.classes_ = list(meta["classes"])
        det.threshold_ = float(meta["threshold"])
        det.session_ = session
        det.input_ = InputConfig.model_validate(meta["input"])
        det.embedding_dim_ = int(props.get(KEY_EMBED, meta.get("embedding_dim", 0)))
        det.detector_name = str(meta.get("detector", ""))
        return det

    # ------------------------------------------------------------ hooks
    @property
    def input_config(self) -> InputConfig:
        """The bundle's input config (checked against the ONNX metadata on load)."""
        if self.input_ is None:
            raise FakescopeError("this onnx detector is not loaded; use OnnxDetector.from_bundle")
        return self.input_

    @property
    def embedding_dim(self) -> int:
        """D of the graph's ``embedding`` output."""
        return self.embedding_dim_

    def run(self, x: torch.Tensor | np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(proba [B, C], logits [B, C], embedding [B, D])`` float32 for ``x`` [B, 3, H, W]."""
        if self.session_ is None:
            raise FakescopeError("this onnx detector is not loaded; use OnnxDetector.from_bundle")
        arr = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
        arr = np.ascontiguousarray(arr, dtype=np.float32)
        proba, logits, emb = self.session_.run(list(OUTPUTS), {INPUT: arr})
        return (
            np.asarray(proba, dtype=np.float32),
            np.asarray(logits, dtype=np.float32),
            np.asarray(emb, dtype=np.float32),
        )

    def _proba_batch(self, x: torch.Tensor) -> np.ndarray:
        return self.run(x)[0]

    def _embed_batch(self, x: torch.Tensor) -> np.ndarray:
        return self.run(x)[2]

    def _features_batch(self, x: torch.Tensor) -> tuple[np.ndarray, ...]:
        return self.run(x)

    def _fit(self, train: pd.DataFrame, val: pd.DataFrame | None, workdir: Path | None) -> None:
        raise FakescopeError("an onnx detector cannot be trained; train the bundle with torch")

    def _tensors(self) -> dict[str, torch.Tensor]:
        raise FakescopeError("an onnx detector cannot be saved; save the torch bundle instead")

    def _restore(self, tensors: dict[str, torch.Tensor], directory: Path) -> None:
        raise FakescopeError("load an onnx detector with OnnxDetector.from_bundle")
