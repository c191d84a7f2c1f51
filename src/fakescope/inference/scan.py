"""Scan image files with a fitted detector and write one result row per file.

Library side of ``fakescope scan``:

* :func:`collect_paths` turns files, folders and glob patterns into a list of
  files. Folders are walked recursively for image extensions with the dataset
  layouts' rules (:func:`fakescope.data.layouts.files.list_images`: hidden
  entries skipped, sorted); files named explicitly are kept whatever their
  extension, so a broken file gets a per-file error row.
* :func:`scan_paths` asks :class:`fakescope.inference.verdict.VerdictModel` (the one
  verdict function: threshold, calibration, conformal "unsure" band, OOD) and
  returns a results table with columns ``path, p_fake, p_fake_raw, verdict,
  reason, ood_score[, class], error`` (``class`` only for multi-class bundles).
  ``p_fake`` is the calibrated P(fake) in [0, 1] (the raw detector score when
  the bundle has no calibration; higher = more likely fake), ``p_fake_raw`` the
  detector's own; ``verdict`` is "real", "fake" or "unsure", ``reason`` says
  why, ``ood_score`` is higher for more out-of-distribution images (empty
  without an OOD abstainer). Rows of files that could not be decoded have empty
  numbers and verdict and the one-line reason in ``error``.
* :func:`write_results` writes CSV or JSONL through :mod:`fakescope.fileio`, so
  an error or Ctrl-C never leaves a partial results file.
"""

from __future__ import annotations

import glob
import json
import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np
import pandas as pd

from fakescope.data.layouts.files import IMAGE_EXTENSIONS, list_images
from fakescope.data.schema import FAKE, REAL
from fakescope.detectors.base import Detector
from fakescope.errors import ConfigError, DataError
from fakescope.fileio import atomic_write
from fakescope.inference.verdict import UNSURE, Verdict, VerdictModel, check_threshold

#: Output formats of :func:`write_results`, by file suffix.
FORMATS: dict[str, str] = {".csv": "csv", ".jsonl": "jsonl"}
PATH_COL = "path"
P_FAKE_COL = "p_fake"
P_FAKE_RAW_COL = "p_fake_raw"
VERDICT_COL = "verdict"
REASON_COL = "reason"
OOD_COL = "ood_score"
CLASS_COL = "class"
ERROR_COL = "error"
#: Columns of a results table, in order (``class`` only for multi-class bundles).
COLUMNS = (
    PATH_COL,
    P_FAKE_COL,
    P_FAKE_RAW_COL,
    VERDICT_COL,
    REASON_COL,
    OOD_COL,
    CLASS_COL,
    ERROR_COL,
)
__all__ = [
    "COLUMNS",
    "ScanSummary",
    "check_threshold",
    "collect_paths",
    "output_format",
    "scan_paths",
    "summarize",
    "verdict_table",
    "write_results",
]


def _absolute(path: Path) -> Path:
    """Absolute and normalised ("a/../b" -> "b"), symlinks kept (unlike ``resolve``)."""
    return Path(os.path.normpath(path.absolute()))


def _has_magic(target: str) -> bool:
    return any(c in target for c in "*?[")


def collect_paths(targets: Iterable[str | Path]) -> list[Path]:
    """Files to scan for ``targets`` (files, folders or glob patterns), absolute, in order.

    Folders (also folders matched by a glob) are walked recursively for image
    extensions; files given or matched explicitly are kept whatever their
    extension. Duplicates are dropped. Raises :class:`DataError` when a target
    does not exist or nothing at all is found.
    """
    out: dict[Path, None] = {}
    names = [str(t) for t in targets]
    if not names:
        raise DataError("nothing to scan; pass an image file, a folder or a glob pattern")
    for target in names:
        expanded = str(Path(target).expanduser())
        if Path(expanded).exists():
            matches = [Path(expanded)]
        elif _has_magic(expanded):
            # glob.glob, not Path.glob: the pattern may be absolute
            found = glob.glob(expanded, recursive=True)  # noqa: PTH207
            matches = [Path(m) for m in sorted(found)]
            if not matches:
                raise DataError(
                    f"no files match {target!r}; check the pattern (quote it in the shell)"
                )
        else:
            raise DataError(
                f"{target} does not exist; pass an image file, a folder or a glob pattern"
            )
        for match in matches:
            if match.is_dir():
                files = [Path(f) for f in list_images(_absolute(match))]
            else:
                files = [_absolute(match)]
            for f in files:
                out.setdefault(f, None)
    if not out:
        raise DataError(
            f"no images found in {', '.join(names)} (looked for {', '.join(sorted(IMAGE_EXTENSIONS))})"
        )
    return list(out)


def output_format(out: str | Path) -> str:
    """Return "csv" or "jsonl" from the suffix of ``out``; anything else is a :class:`ConfigError`."""
    fmt = FORMATS.get(Path(out).suffix.lower())
    if fmt is None:
        raise ConfigError(f"cannot write {out}: use a .csv or .jsonl file name for --out")
    return fmt


def scan_paths(
    model: VerdictModel | Detector,
    paths: Sequence[str | Path],
    *,
    threshold: float | None = None,
    batch_size: int | None = None,
    num_workers: int | None = None,
    progress: str | None = None,
) -> pd.DataFrame:
    """Verdicts for every file of ``paths``; one row per file, in order (see the module docstring).

    ``model``: a :class:`~fakescope.inference.verdict.VerdictModel` (calibration and
    OOD from its bundle) or a bare fitted detector (raw scores, no band, no OOD).
    ``threshold``: the raw P(fake) cut (None = the bundle's, chosen on validation
    data). ``batch_size`` / ``num_workers`` apply to this call only and are passed
    down, so concurrent scans with one model never interfere. Per-file decode
    errors never raise.
    """
    vm = model if isinstance(model, VerdictModel) else VerdictModel(model)
    verdicts = vm.decide_paths(
        list(paths),
        threshold=threshold,
        batch_size=batch_size,
        num_workers=num_workers,
        progress=progress,
    )
    return verdict_table(verdicts, multiclass=len(vm.classes) > 2)


def verdict_table(verdicts: Sequence[Verdict], *, multiclass: bool = False) -> pd.DataFrame:
    """A results table from verdicts: the columns of :data:`COLUMNS` (``class`` only if ``multiclass``)."""
    rows = [v.to_dict() for v in verdicts]
    columns = [c for c in COLUMNS if multiclass or c != CLASS_COL]
    table = pd.DataFrame(rows, columns=columns)
    for col in (P_FAKE_COL, P_FAKE_RAW_COL, OOD_COL):
        table[col] = pd.to_numeric(table[col], errors="coerce").astype(np.float64)
    return table


@dataclass(frozen=True)
class ScanSummary:
    """Counts of a results table: files scanned, called fake / real / unsure, failed.

    ``threshold``: the raw P(fake) cut used; ``calibrated``: the same cut on the
    calibrated scale (None when the bundle has no calibration).
    """

    n: int
    fake: int
    real: int
    unsure: int
    errors: int
    threshold: float
    calibrated: float | None = None

    def line(self) -> str:
        """One line, e.g. ``scanned 10 files: 3 fake, 5 real, 1 unsure, 1 error (threshold 0.5)``."""
        plural = "" if self.errors == 1 else "s"
        cut = f"threshold {self.threshold:.4g}"
        if self.calibrated is not None:
            cut += f" on p_fake_raw = {self.calibrated:.4g} calibrated"
        return (
            f"scanned {self.n} file{'' if self.n == 1 else 's'}: {self.fake} fake, {self.real} real, "
            f"{self.unsure} unsure, {self.errors} error{plural} ({cut})"
        )


def summarize(
    table: pd.DataFrame, threshold: float, calibrated: float | None = None
) -> ScanSummary:
    """Count a :func:`scan_paths` table."""
    verdict = table[VERDICT_COL]
    return ScanSummary(
        n=len(table),
        fake=int((verdict == FAKE).sum()),
        real=int((verdict == REAL).sum()),
        unsure=int((verdict == UNSURE).sum()),
        errors=int((table[ERROR_COL] != "").sum()),
        threshold=threshold,
        calibrated=calibrated,
    )


def write_results(table: pd.DataFrame, out: str | Path) -> Path:
    """Write ``table`` as CSV or JSONL (by suffix) to ``out`` atomically; returns the path.

    Written through :func:`fakescope.fileio.atomic_write`: the file appears only
    complete; on any error or interrupt the old file (if any) is kept. NaN numbers
    are written as an empty CSV cell / JSON ``null``.
    """
    out = Path(out).expanduser()
    fmt = output_format(out)
    if out.is_dir():
        raise ConfigError(f"--out {out} is a folder; give a file name ending in .csv or .jsonl")
    with atomic_write(out, newline="") as fh:
        if fmt == "csv":
            table.to_csv(fh, index=False)
        else:
            _write_jsonl(table, fh)
    return out


def _write_jsonl(table: pd.DataFrame, fh: IO[str]) -> None:
    for row in table.to_dict(orient="records"):
        clean = {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()}
        fh.write(json.dumps(clean, ensure_ascii=False) + "\n")
