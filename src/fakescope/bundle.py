"""Save and load a trained detector - with its calibration and OOD abstainer - as a directory.

:class:`Bundle` is the one object: ``Bundle(detector, calibrator, abstainer,
data_use).save(dir)`` writes everything in one atomic step and
``Bundle.load(dir)`` reads it back (never a pickle). A bundle holds::

    config.yaml        detector name + params (human-readable, re-trainable)
    model.safetensors  every learnt tensor (``detector.state_tensors()``)
    meta.json          classes, threshold, input config, fakescope version,
                       bundle format, ``data_use`` (which data set what, see
                       :func:`fakescope.inference.fit_bundle.fit_bundle`)
    calibration.json   optional: P(fake) calibration + unsure band
    ood.json + ood.safetensors   optional: the OOD abstainer
    (extra files)      non-pickle extras a detector writes (e.g. a head as JSON)

Writing goes to a temporary sibling directory renamed into place
(:func:`fakescope.fileio.atomic_dir`), so a crash never leaves a half-written
bundle. Loading refuses pickle-like files. :func:`save_bundle` /
:func:`load_bundle` are the detector-only forms behind ``Detector.save`` / ``load``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from safetensors.torch import load_file, save_file

import fakescope
from fakescope.errors import BundleError
from fakescope.fileio import atomic_dir

if TYPE_CHECKING:
    from fakescope.detectors.base import Detector
    from fakescope.inference.calibration import Calibrator
    from fakescope.ood.abstain import Abstainer

CONFIG = "config.yaml"
WEIGHTS = "model.safetensors"
META = "meta.json"
#: Bump when the bundle layout changes incompatibly.
FORMAT = 1
PICKLE_SUFFIXES = (".pkl", ".pickle", ".pt", ".pth", ".ckpt", ".joblib", ".bin", ".npy", ".npz")
#: ``meta.json`` key: which data set which part of the bundle (a list of steps).
DATA_USE = "data_use"
#: Backends :meth:`Bundle.load` knows (torch weights, or the bundle's ``model.onnx``).
BACKENDS = ("torch", "onnxruntime")


@dataclass
class Bundle:
    """A fitted detector with its optional calibrator and OOD abstainer, saved and loaded together.

    ``data_use``: which data set what - one ``{"step", "data", "rows"}`` dict per
    fitted part (e.g. ``{"step": "unsure band", "data": "calibration", "rows": 120}``),
    stored in ``meta.json``; empty for bundles made without ``fakescope train``.
    """

    detector: Detector
    calibrator: Calibrator | None = None
    abstainer: Abstainer | None = None
    data_use: list[dict[str, Any]] = field(default_factory=list)

    def save(self, directory: str | Path) -> Path:
        """Write detector, calibration and abstainer to ``directory`` in one atomic step."""
        return _save(self, Path(directory))

    @classmethod
    def load(
        cls, directory: str | Path, *, device: str | None = None, backend: str = "torch"
    ) -> Bundle:
        """Load a bundle folder: detector, ``calibration.json`` / ``ood.json`` when present.

        ``backend="onnxruntime"`` runs the bundle's ``model.onnx`` on CPU (``device``
        is then ignored); a missing or stale export is a one-line error.
        """
        from fakescope.errors import ConfigError
        from fakescope.inference.calibration import Calibrator

        if backend not in BACKENDS:
            raise ConfigError(
                f"backend {backend!r} is not available; use one of {', '.join(BACKENDS)}"
            )
        path = Path(directory).expanduser()
        detector: Detector
        if backend == "onnxruntime":
            from fakescope.inference.onnx_runtime import OnnxDetector

            detector = OnnxDetector.from_bundle(path)
        else:
            detector = load_bundle(path, device=device)
        meta = read_meta(path)
        uses = meta.get(DATA_USE)
        return cls(
            detector,
            Calibrator.load(path),
            _load_abstainer(path),
            list(uses) if isinstance(uses, list) else [],
        )


def _load_abstainer(directory: Path) -> Abstainer | None:
    """The bundle's OOD abstainer (``ood.json``), or None (also when OOD support is absent)."""
    try:
        from fakescope.ood.abstain import Abstainer
    except ImportError:
        if (directory / "ood.json").exists():
            raise BundleError(
                f"{directory} has an OOD abstainer (ood.json) but this fakescope cannot read it; "
                "update fakescope"
            ) from None
        return None
    return Abstainer.load(directory)


def save_bundle(detector: Detector, directory: Path) -> Path:
    """Write ``detector`` alone to ``directory`` atomically (replacing an older bundle there).

    The folder gets the umask's normal modes (``0o777``/``0o666`` less the
    umask), so a bundle shared with a team can be read by it.
    """
    return _save(Bundle(detector), directory)


def _save(bundle: Bundle, directory: Path) -> Path:
    """Write every part of ``bundle`` into a temporary folder renamed to ``directory``."""
    detector = bundle.detector
    classes = detector.check_fitted()
    directory = directory.expanduser().resolve()
    if directory.exists() and not directory.is_dir():
        raise BundleError(f"{directory} is a file; a bundle is a folder - choose a folder path")
    if directory.exists() and not (directory / META).exists() and any(directory.iterdir()):
        raise BundleError(
            f"{directory} exists and is not a fakescope bundle; choose an empty or new folder"
        )
    with atomic_dir(directory) as tmp:
        config = {"detector": detector.name, "params": detector.params.model_dump(mode="json")}
        (tmp / CONFIG).write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
        tensors = detector.state_tensors()
        save_file(tensors, str(tmp / WEIGHTS))
        meta: dict[str, Any] = {
            "fakescope_version": fakescope.__version__,
            "format": FORMAT,
            "detector": detector.name,
            "classes": list(classes),
            "threshold": float(detector.threshold_),
            "input": detector.input_config.model_dump(mode="json"),
            "embedding_dim": detector.embedding_dim,
        }
        if bundle.data_use:
            meta[DATA_USE] = list(bundle.data_use)
        (tmp / META).write_text(json.dumps(meta, indent=2), encoding="utf-8")
        detector._save_extra(tmp)
        if bundle.calibrator is not None:
            bundle.calibrator.save(tmp)
        if bundle.abstainer is not None:
            bundle.abstainer.save(tmp)
    return directory


def read_meta(directory: Path) -> dict[str, Any]:
    """Validate a bundle directory and return its ``meta.json`` (no weights loaded)."""
    directory = directory.expanduser()
    if not directory.exists():
        raise BundleError(f"no bundle at {directory}; pass the folder written by 'fakescope train'")
    if directory.is_file():
        if directory.suffix.lower() in PICKLE_SUFFIXES:
            raise BundleError(
                f"{directory} looks like a pickle/torch checkpoint; fakescope never loads pickles - "
                "pass a bundle directory written by 'fakescope train'"
            )
        raise BundleError(
            f"{directory} is a file; a bundle is a directory written by 'fakescope train'"
        )
    unsafe = sorted(p.name for p in directory.iterdir() if p.suffix.lower() in PICKLE_SUFFIXES)
    if unsafe:
        raise BundleError(
            f"{directory} contains pickle-like file(s) {unsafe}; fakescope refuses to load pickles - "
            "remove them or re-save the detector"
        )
    for name in (CONFIG, WEIGHTS, META):
        if not (directory / name).is_file():
            raise BundleError(
                f"{directory} is not a complete bundle: {name} is missing; re-save the detector"
            )
    try:
        meta: dict[str, Any] = json.loads((directory / META).read_text())
    except json.JSONDecodeError as exc:
        raise BundleError(
            f"{directory / META} is not valid JSON ({exc}); re-save the detector"
        ) from None
    fmt = meta.get("format")
    if fmt != FORMAT:
        raise BundleError(
            f"bundle {directory} has format {fmt} (fakescope {meta.get('fakescope_version', '?')}); "
            f"this fakescope {fakescope.__version__} reads format {FORMAT} - retrain or use the matching version"
        )
    return meta


def load_bundle(directory: Path, *, device: str | None = None) -> Detector:
    """Load a detector bundle (any registered detector), optionally onto another ``device``."""
    from fakescope.detectors import DETECTORS

    meta = read_meta(directory)
    config = yaml.safe_load((directory / CONFIG).read_text()) or {}
    cls = DETECTORS.get(str(config.get("detector", meta.get("detector"))))
    params = dict(config.get("params") or {})
    if device is not None:
        params["device"] = device
    detector = cls(params)
    detector.classes_ = list(meta["classes"])
    detector.threshold_ = float(meta["threshold"])
    detector.load_state(load_file(str(directory / WEIGHTS)), directory)
    return detector
