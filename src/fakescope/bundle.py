"""Save and load a trained detector as a directory - never a pickle.

A bundle holds::

    config.yaml        detector name + params (human-readable, re-trainable)
    model.safetensors  every learnt tensor
    meta.json          classes, threshold, input config, fakescope version,
                       bundle format, plus detector-specific metadata
    (extra files)      non-pickle extras a detector writes (e.g. a head as JSON)

Writing goes to a temporary sibling directory renamed into place
(:func:`fakescope.fileio.atomic_dir`), so a crash never leaves a half-written
bundle. Loading refuses pickle-like files.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from safetensors.torch import load_file, save_file

import fakescope
from fakescope.errors import BundleError
from fakescope.fileio import atomic_dir

if TYPE_CHECKING:
    from fakescope.detectors.base import Detector

CONFIG = "config.yaml"
WEIGHTS = "model.safetensors"
META = "meta.json"
#: Bump when the bundle layout changes incompatibly.
FORMAT = 1
PICKLE_SUFFIXES = (".pkl", ".pickle", ".pt", ".pth", ".ckpt", ".joblib", ".bin", ".npy", ".npz")


def save_bundle(detector: Detector, directory: Path) -> Path:
    """Write ``detector`` to ``directory`` atomically (replacing an older bundle there).

    The folder gets the umask's normal modes (``0o777``/``0o666`` less the
    umask), so a bundle shared with a team can be read by it.
    """
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
        tensors = {k: v.detach().cpu().contiguous() for k, v in detector._tensors().items()}
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
        (tmp / META).write_text(json.dumps(meta, indent=2), encoding="utf-8")
        detector._save_extra(tmp)
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
    detector._restore(load_file(str(directory / WEIGHTS)), directory)
    return detector
