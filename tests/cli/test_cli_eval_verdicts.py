"""``fakescope eval --model B``: the verdicts section appears for bundles with calibration / OOD."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from fakescope.cli.app import app
from fakescope.data.index import index_dataset
from fakescope.data.schema import LABEL, PATH, SPLIT
from fakescope.detectors.base import Detector
from fakescope.inference.calibration import Band
from fakescope.inference.fit_bundle import calibrate_detector
from fakescope.inference.verdict import VerdictModel


def _eval(runner: CliRunner, bundle: Path, dataset: Path, out: Path) -> tuple[dict[str, Any], str]:
    args = ["eval", "--model", str(bundle), "--data", str(dataset), "--out", str(out)]
    res = runner.invoke(app, [*args, "--no-progress"])
    assert res.exit_code == 0, res.output
    return json.loads((out / "report.json").read_text()), res.stdout


def test_calibrated_bundle_counts_the_verdicts_users_see(
    runner: CliRunner, tiny_bundle: Path, dataset: Path, tmp_path: Path
) -> None:
    bundle = tmp_path / "cal"
    shutil.copytree(tiny_bundle, bundle)
    table = index_dataset(dataset)
    cal = calibrate_detector(Detector.load(bundle), table[table[SPLIT] == "val"], alpha=0.5)
    cal.band = Band(0.5, 0.45, 0.55, 6, 6)  # a wide band, so some test images are unsure
    cal.save(bundle)
    report, stdout = _eval(runner, bundle, dataset, tmp_path / "rep")
    test = table[table[SPLIT] == "test"]
    want = VerdictModel.load(bundle).decide_paths(test[PATH].tolist())
    counts = report["verdicts"]["counts"]
    for name, label in (("real", 0), ("fake", 1)):
        got = [w.verdict for w, y in zip(want, test[LABEL], strict=True) if y == label]
        assert counts[name] == {o: got.count(o) for o in ("real", "fake", "unsure")} | {"error": 0}
    assert sum(sum(c.values()) for c in counts.values()) == len(test) == 12
    assert "verdicts on 12 test images" in " ".join(stdout.split())
    assert "## Verdicts" in (tmp_path / "rep" / "report.md").read_text()


def test_bundle_without_extras_has_no_verdicts_section(
    runner: CliRunner, tiny_bundle: Path, dataset: Path, tmp_path: Path
) -> None:
    report, stdout = _eval(runner, tiny_bundle, dataset, tmp_path / "rep")
    assert "verdicts" not in report and "verdicts on" not in stdout
