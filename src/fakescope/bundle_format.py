"""The bundle folder format: file names, version, and the checks before reading or writing one.

A bundle is a directory (see :mod:`fakescope.bundle`)::

    config.yaml        detector name + params
    model.safetensors  every learnt tensor
    meta.json          classes, threshold, input config, fakescope version, format

This module knows no detector: :meth:`fakescope.detectors.base.Detector.save` /
``load`` write and read the detector's files with it, :mod:`fakescope.bundle` adds
calibration and the OOD abstainer, and tools that only read ``meta.json``
(``fakescope bundle info``, the server's model info) never load a network.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import fakescope
from fakescope.errors import BundleError

CONFIG = "config.yaml"
WEIGHTS = "model.safetensors"
META = "meta.json"
#: Bump when the bundle layout changes incompatibly.
FORMAT = 1
PICKLE_SUFFIXES = (".pkl", ".pickle", ".pt", ".pth", ".ckpt", ".joblib", ".bin", ".npy", ".npz")
#: ``meta.json`` key: which data set which part of the bundle (a list of steps).
DATA_USE = "data_use"


def bundle_target(directory: Path) -> Path:
    """The resolved folder to write a bundle to; a one-line error when it is a file or a
    non-empty folder that is not a bundle (an older bundle there is replaced)."""
    directory = directory.expanduser().resolve()
    if directory.exists() and not directory.is_dir():
        raise BundleError(f"{directory} is a file; a bundle is a folder - choose a folder path")
    if directory.exists() and not (directory / META).exists() and any(directory.iterdir()):
        raise BundleError(
            f"{directory} exists and is not a fakescope bundle; choose an empty or new folder"
        )
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
