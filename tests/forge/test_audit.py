"""The format audit catches files that bypassed the encode path, and flags size-separable fakes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from fakescope.errors import FakescopeError
from fakescope.forge.audit import audit_benchmark, audit_generator, check_audit
from fakescope.forge.encode import FormatSpec, encode_like


def _spec(root: Path) -> FormatSpec:
    fmt = json.loads((root / "benchmark.json").read_text())["format"]
    return FormatSpec(**{k: fmt[k] for k in FormatSpec.model_fields})


def test_mismatched_fakes_are_caught(built: Path, tmp_path: Path) -> None:
    root = tmp_path / "copy"
    shutil.copytree(built, root)
    m = pd.read_parquet(root / "manifest.parquet")
    spec = _spec(root)
    assert all(a.passed for a in audit_benchmark(root, m, spec).values())
    fake = root / "tiny_sampler" / "test" / "1_fake" / "00000.jpg"
    with Image.open(fake) as img:
        img.convert("RGB").save(fake, format="JPEG", quality=90)  # other tables, same size
    other = root / "tiny_manip" / "val" / "1_fake" / "00001.jpg"
    Image.new("RGB", (20, 16)).save(other, format="JPEG", quality=75)  # other size
    audits = audit_benchmark(root, m, spec)
    assert not audits["tiny_sampler"].qtables_identical
    assert audits["tiny_sampler"].sizes_modes_identical
    assert not audits["tiny_manip"].sizes_modes_identical
    assert "00000.jpg" in audits["tiny_sampler"].mismatches[0]
    with pytest.raises(FakescopeError, match="format audit failed for tiny_manip, tiny_sampler"):
        check_audit(audits)


def test_file_size_auc_flags_size_separable_fakes(tmp_path: Path) -> None:
    spec = FormatSpec(format="JPEG", size=(16, 16), quality=75, subsampling=2)
    rng = np.random.default_rng(0)
    paths, labels = [], []
    for i in range(6):
        flat = np.full((16, 16, 3), 100 + i, dtype=np.uint8)  # small files
        noisy = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)  # large files
        paths += [
            encode_like(flat, spec, tmp_path / f"r{i}.jpg"),
            encode_like(noisy, spec, tmp_path / f"f{i}.jpg"),
        ]
        labels += [0, 1]
    audit = audit_generator("noisy", paths, np.array(labels), spec)
    assert audit.passed and audit.file_size_auc == 1.0 and audit.file_size_flag
    inverse = audit_generator("smooth", paths, 1 - np.array(labels), spec)
    assert inverse.file_size_auc == 0.0 and inverse.file_size_flag
