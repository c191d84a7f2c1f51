"""``fakescope eval --model B``: the calibration section (ECE raw vs calibrated, reliability PNG)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from typer.testing import CliRunner

from fakescope.cli.app import app
from fakescope.data.index import index_dataset
from fakescope.data.schema import SPLIT
from fakescope.detectors.base import Detector
from fakescope.eval.calibration import expected_calibration_error
from fakescope.inference.fit_bundle import calibrate_detector


def _eval(runner: CliRunner, bundle: Path, dataset: Path, out: Path) -> dict:  # type: ignore[type-arg]
    args = ["eval", "--model", str(bundle), "--data", str(dataset), "--out", str(out)]
    res = runner.invoke(app, [*args, "--no-progress"])
    assert res.exit_code == 0, res.output
    return {"json": json.loads((out / "report.json").read_text()), "stdout": res.stdout}


def test_calibrated_bundle_gets_ece_and_a_reliability_diagram(
    runner: CliRunner, tiny_bundle: Path, dataset: Path, tmp_path: Path
) -> None:
    bundle = tmp_path / "cal"
    shutil.copytree(tiny_bundle, bundle)
    table = index_dataset(dataset)
    cal = calibrate_detector(Detector.load(bundle), table[table[SPLIT] == "val"], alpha=0.5)
    cal.save(bundle)
    out = tmp_path / "report"
    got = _eval(runner, bundle, dataset, out)
    section = got["json"]["calibration"]
    scores = pd.read_csv(out / "scores.csv")
    y, p = scores["label"].to_numpy(), scores["p_fake"].to_numpy()
    assert len(p) == section["n_test"] == 12 and section["n_bins"] == 15
    want_raw = expected_calibration_error(y, p, 15)
    want_cal = expected_calibration_error(y, cal.transform(p), 15)
    assert section["ece_raw"] == pytest.approx(want_raw, abs=1e-6)
    assert section["ece_calibrated"] == pytest.approx(want_cal, abs=1e-6)
    assert abs(want_raw - want_cal) > 1e-6  # calibration moved the scores
    assert section["method"] == cal.method
    with Image.open(out / "reliability.png") as png:
        assert png.format == "PNG" and png.size[0] > 100
    md = (out / "report.md").read_text()
    assert "## Calibration" in md and f"{want_raw:.3f}" in md
    assert "reliability diagram" in (out / "report.html").read_text()
    assert f"ECE raw {want_raw:.4f}" in " ".join(got["stdout"].split())


def test_uncalibrated_bundle_has_no_calibration_section(
    runner: CliRunner, tiny_bundle: Path, dataset: Path, tmp_path: Path
) -> None:
    out = tmp_path / "report"
    got = _eval(runner, tiny_bundle, dataset, out)
    assert "calibration" not in got["json"] and not (out / "reliability.png").exists()


def test_ece_matches_a_hand_computation() -> None:
    from fakescope.eval.calibration_report import calibration_section
    from fakescope.inference.calibration import Calibrator

    y = np.array([0, 0, 1, 1, 1, 0])
    p = np.array([0.05, 0.10, 0.90, 0.93, 0.40, np.nan])
    identity = Calibrator("isotonic", {"x": [0.0, 1.0], "y": [0.0, 1.0]}, None)
    section, png = calibration_section(y, p, identity)
    # bins of width 1/15: {0.05} {0.10} {0.40} {0.90, 0.93}; the NaN row is left out
    hand = (0.05 + 0.10 + (1 - 0.40) + 2 * (1 - 0.915)) / 5
    assert section.data["ece_raw"] == pytest.approx(hand)
    assert section.data["ece_calibrated"] == pytest.approx(hand)
    assert section.data["n_test"] == 5 and png.startswith(b"\x89PNG")
