"""The README demo end to end, on the ``smoke`` preset (the real demo builds ``mini``)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from fakescope.bench.presets import NON_FACE
from fakescope.demo import run_demo
from fakescope.detectors import Detector


def test_demo_builds_evaluates_saves_and_scans(tmp_path: Path) -> None:
    result = run_demo(tmp_path / "demo", preset="smoke", progress=False)

    matrix = result.report.matrix()
    assert sorted(matrix.index) == sorted(NON_FACE)  # one detector per generator
    assert set(NON_FACE) <= set(matrix.columns)  # each tested on every generator
    assert matrix.to_numpy().min() >= 0.0 and matrix.to_numpy().max() <= 1.0
    assert result.report_html.read_text().startswith("<!DOCTYPE html>")

    detector = Detector.load(result.bundle)
    assert detector.classes_ == ["real", "fake"]
    scan = pd.read_csv(result.scan_csv)
    manifest = pd.read_parquet(tmp_path / "demo" / "benchmark" / "manifest.parquet")
    assert len(scan) == int((manifest["split"] == "test").sum())
