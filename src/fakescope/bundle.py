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
:func:`load_bundle` are the detector-only forms (``Detector.save`` / ``load``, with
every built-in detector registered). The file names and checks live in
:mod:`fakescope.bundle_format`, below the detectors, so that ``Detector.save`` and
``load`` need no import of this module.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fakescope.bundle_format import (
    CONFIG,
    DATA_USE,
    FORMAT,
    META,
    PICKLE_SUFFIXES,
    WEIGHTS,
    bundle_target,
    read_meta,
)
from fakescope.errors import BundleError
from fakescope.fileio import atomic_dir

if TYPE_CHECKING:
    from fakescope.detectors.base import Detector
    from fakescope.inference.calibration import Calibrator
    from fakescope.ood.abstain import Abstainer

__all__ = [
    "BACKENDS",
    "CONFIG",
    "DATA_USE",
    "FORMAT",
    "META",
    "PICKLE_SUFFIXES",
    "WEIGHTS",
    "Bundle",
    "load_bundle",
    "read_meta",
    "save_bundle",
]
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
    detector.check_fitted()
    directory = bundle_target(directory)
    with atomic_dir(directory) as tmp:
        extra = {DATA_USE: list(bundle.data_use)} if bundle.data_use else None
        detector.write_bundle_files(tmp, extra)
        if bundle.calibrator is not None:
            bundle.calibrator.save(tmp)
        if bundle.abstainer is not None:
            bundle.abstainer.save(tmp)
    return directory


def load_bundle(directory: Path, *, device: str | None = None) -> Detector:
    """Load a detector bundle (any built-in or registered detector), optionally onto ``device``."""
    from fakescope.detectors.catalog import Detector  # every built-in detector registered

    return Detector.load(directory, device=device)
