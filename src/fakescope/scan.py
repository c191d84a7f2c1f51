"""Scan image files with a fitted detector and write one result row per file.

Library side of ``fakescope scan``:

* :func:`collect_paths` turns files, folders and glob patterns into a list of
  files. Folders are walked recursively for image extensions with the dataset
  layouts' rules (:func:`fakescope.data.layouts.files.list_images`: hidden
  entries skipped, sorted); files named explicitly are kept whatever their
  extension, so a broken file gets a per-file error row.
* :func:`scan_paths` runs the detector and returns a results table with
  columns ``path, p_fake, verdict[, class], error`` (``class`` only for
  multi-class bundles). ``p_fake`` is P(fake) in [0, 1] (higher = more likely
  fake); ``verdict`` is "fake" when ``p_fake >= threshold``, else "real"; rows of
  files that could not be decoded have ``p_fake`` NaN, an empty verdict and the
  one-line reason in ``error``.
* :func:`write_results` writes CSV or JSONL atomically (temp file + rename), so
  an error or Ctrl-C never leaves a partial results file.
"""

from __future__ import annotations

import glob
import json
import math
import os
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import numpy as np
import pandas as pd

from fakescope.data.layouts.files import IMAGE_EXTENSIONS, list_images
from fakescope.data.schema import FAKE, REAL
from fakescope.detectors.base import Detector
from fakescope.errors import ConfigError, DataError

#: Output formats of :func:`write_results`, by file suffix.
FORMATS: dict[str, str] = {".csv": "csv", ".jsonl": "jsonl"}
PATH_COL = "path"
P_FAKE_COL = "p_fake"
VERDICT_COL = "verdict"
CLASS_COL = "class"
ERROR_COL = "error"


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


def check_threshold(threshold: float) -> float:
    """Return ``threshold`` when it is a P(fake) cut in [0, 1], else raise :class:`ConfigError`."""
    if not (isinstance(threshold, int | float) and 0.0 <= float(threshold) <= 1.0):
        raise ConfigError(f"threshold must be a probability in [0, 1], got {threshold}")
    return float(threshold)


def scan_paths(
    detector: Detector,
    paths: Sequence[str | Path],
    *,
    threshold: float | None = None,
    batch_size: int | None = None,
    num_workers: int | None = None,
    progress: str | None = None,
) -> pd.DataFrame:
    """Score every file of ``paths`` with a fitted ``detector``; one row per file, in order.

    ``threshold``: the P(fake) cut (None = the detector's ``threshold_``, chosen on
    validation data). ``batch_size`` / ``num_workers`` override the detector's
    params for this call only. Returns columns ``path, p_fake, verdict[, class], error``
    (see the module docstring); per-file decode errors never raise.
    """
    cut = check_threshold(detector.threshold_ if threshold is None else threshold)
    updates: dict[str, int] = {}
    if batch_size is not None:
        if batch_size < 1:
            raise ConfigError(f"batch size must be at least 1, got {batch_size}")
        updates["batch_size"] = batch_size
    if num_workers is not None:
        if num_workers < 0:
            raise ConfigError(f"workers must be 0 or more, got {num_workers}")
        updates["num_workers"] = num_workers
    saved = detector.params
    detector.params = saved.model_copy(update=updates)
    try:
        pred = detector.predict(list(paths), progress=progress)
    finally:
        detector.params = saved
    p_fake = pred.p_fake.astype(np.float64)
    failed = np.isnan(p_fake)
    verdict = np.where(failed, "", np.where(p_fake >= cut, FAKE, REAL))
    table = pd.DataFrame(
        {PATH_COL: [str(p) for p in paths], P_FAKE_COL: p_fake, VERDICT_COL: verdict}
    )
    if len(pred.classes) > 2:
        table[CLASS_COL] = [c or "" for c in pred.predicted_class]
    table[ERROR_COL] = pred.errors
    return table


@dataclass(frozen=True)
class ScanSummary:
    """Counts of a results table: files scanned, called fake, called real, failed."""

    n: int
    fake: int
    real: int
    errors: int
    threshold: float

    def line(self) -> str:
        """One human-readable line, e.g. ``scanned 10 files: 3 fake, 6 real, 1 error (threshold 0.5)``."""
        plural = "" if self.errors == 1 else "s"
        return (
            f"scanned {self.n} file{'' if self.n == 1 else 's'}: {self.fake} fake, {self.real} real, "
            f"{self.errors} error{plural} (threshold {self.threshold:.4g})"
        )


def summarize(table: pd.DataFrame, threshold: float) -> ScanSummary:
    """Count a :func:`scan_paths` table."""
    verdict = table[VERDICT_COL]
    return ScanSummary(
        n=len(table),
        fake=int((verdict == FAKE).sum()),
        real=int((verdict == REAL).sum()),
        errors=int((table[ERROR_COL] != "").sum()),
        threshold=threshold,
    )


def write_results(table: pd.DataFrame, out: str | Path) -> Path:
    """Write ``table`` as CSV or JSONL (by suffix) to ``out`` atomically; returns the path.

    The data goes to a hidden temp file in the same folder which is renamed onto
    ``out`` only when complete; on any error or interrupt the temp file is removed.
    NaN ``p_fake`` is written as an empty CSV cell / JSON ``null``.
    """
    out = Path(out).expanduser()
    fmt = output_format(out)
    if out.is_dir():
        raise ConfigError(f"--out {out} is a folder; give a file name ending in .csv or .jsonl")
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            if fmt == "csv":
                table.to_csv(fh, index=False)
            else:
                _write_jsonl(table, fh)
        tmp.replace(out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return out


def _write_jsonl(table: pd.DataFrame, fh: TextIO) -> None:
    for row in table.to_dict(orient="records"):
        clean = {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()}
        fh.write(json.dumps(clean, ensure_ascii=False) + "\n")
