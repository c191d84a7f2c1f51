"""The format audit of a built benchmark: can a detector win by reading the file format?

Per generator, over all its files (every split, reals and fakes):

* **must hold**: every file has the build's format, size and colour mode, and
  (JPEG) the build's quantization tables and chroma subsampling, so reals and
  fakes carry identical tables. A failure means some file bypassed
  :func:`~fakescope.forge.encode.encode_like`; :func:`check_audit` turns it
  into an error.
* **reported**: the ROC-AUC of "file size alone" as the fake score (higher
  size = more fake). 0.5 means the size says nothing; the audit flags a
  generator whose AUC is above :data:`FLAG_HIGH` or below :data:`FLAG_LOW`
  (the size alone, or its inverse, separates the classes): such fakes differ
  in compressibility (smoother or noisier than the reals), which a detector
  may learn instead of the generator's traces.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import BaseModel
from sklearn.metrics import roc_auc_score

from fakescope.data.schema import GENERATOR, LABEL, PATH
from fakescope.errors import FakescopeError
from fakescope.forge.encode import FileFormat, FormatSpec, inspect_format

FLAG_HIGH = 0.9
FLAG_LOW = 0.1


class GeneratorAudit(BaseModel):
    """The audit of one generator's files (see the module docstring)."""

    generator: str
    files: int
    #: Must hold: every file has the build's format, size and mode.
    sizes_modes_identical: bool
    #: Must hold: every JPEG carries the build's quantization tables and subsampling.
    qtables_identical: bool
    #: Up to 5 files that broke a must-hold check, with the reason.
    mismatches: list[str]
    #: ROC-AUC of the file size as the fake score (NaN with one class only).
    file_size_auc: float
    #: True when ``file_size_auc`` > FLAG_HIGH or < FLAG_LOW.
    file_size_flag: bool
    mean_bytes_real: float
    mean_bytes_fake: float

    @property
    def passed(self) -> bool:
        """True when both must-hold checks hold."""
        return self.sizes_modes_identical and self.qtables_identical


def expected_format(spec: FormatSpec) -> FileFormat:
    """The header every file written with ``spec`` has."""
    qtables = None
    if spec.format == "JPEG":
        if spec.qtables is not None:
            qtables = spec.qtables
        else:
            from fakescope.forge.encode import standard_tables

            assert spec.quality is not None
            qtables = standard_tables()[spec.quality][: 1 if spec.mode == "L" else 2]
    return FileFormat(
        format=spec.format,
        mode=spec.mode,
        size=spec.size,
        qtables=qtables,
        subsampling=spec.subsampling if spec.format == "JPEG" and spec.mode == "RGB" else None,
        progressive=spec.progressive if spec.format == "JPEG" else False,
    )


def audit_generator(
    name: str, paths: list[Path], labels: np.ndarray, spec: FormatSpec
) -> GeneratorAudit:
    """Audit one generator's files ``paths`` with ``labels`` [N] (0 real, 1 fake)."""
    want = expected_format(spec)
    sizes = np.zeros(len(paths), dtype=np.float64)
    shape_ok, tables_ok = True, True
    mismatches: list[str] = []
    for i, path in enumerate(paths):
        sizes[i] = path.stat().st_size
        try:
            got = inspect_format(path)
        except (OSError, ValueError, SyntaxError) as exc:
            shape_ok = False
            mismatches.append(f"{path.name}: unreadable ({exc})")
            continue
        reasons = []
        if (got.format, got.mode, tuple(got.size)) != (want.format, want.mode, tuple(want.size)):
            shape_ok = False
            reasons.append(f"{got.format} {got.mode} {got.size[0]}x{got.size[1]}")
        if (got.qtables, got.subsampling, got.progressive) != (
            want.qtables,
            want.subsampling,
            want.progressive,
        ):
            tables_ok = False
            reasons.append("other quantization tables/subsampling")
        if reasons and len(mismatches) < 5:
            mismatches.append(f"{path}: {', '.join(reasons)}")
    auc = float("nan")
    if len(np.unique(labels)) == 2:
        auc = float(roc_auc_score(labels, sizes))
    real, fake = sizes[labels == 0], sizes[labels == 1]
    return GeneratorAudit(
        generator=name,
        files=len(paths),
        sizes_modes_identical=shape_ok,
        qtables_identical=tables_ok,
        mismatches=mismatches,
        file_size_auc=auc,
        file_size_flag=bool(auc == auc and (auc > FLAG_HIGH or auc < FLAG_LOW)),
        mean_bytes_real=float(real.mean()) if len(real) else float("nan"),
        mean_bytes_fake=float(fake.mean()) if len(fake) else float("nan"),
    )


def audit_benchmark(
    root: Path, manifest: pd.DataFrame, spec: FormatSpec
) -> dict[str, GeneratorAudit]:
    """Audit every generator of a built benchmark (``manifest`` paths are relative to ``root``)."""
    out: dict[str, GeneratorAudit] = {}
    for gen, rows in manifest.groupby(GENERATOR, sort=True):
        paths = [root / p for p in rows[PATH]]
        out[str(gen)] = audit_generator(str(gen), paths, rows[LABEL].to_numpy(), spec)
    return out


def check_audit(audits: Mapping[str, GeneratorAudit]) -> None:
    """Raise a one-line :class:`FakescopeError` when a must-hold check failed for any generator."""
    failed = [a for a in audits.values() if not a.passed]
    if failed:
        first = failed[0]
        what = (first.mismatches or ["?"])[0]
        raise FakescopeError(
            f"format audit failed for {', '.join(a.generator for a in failed)} "
            f"(e.g. {what}); the files differ from the build's format - rebuild with --force"
        )
