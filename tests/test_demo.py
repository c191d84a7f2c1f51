"""The README demo end to end, on the ``smoke`` preset (the real demo builds ``mini``).

Chance is known here: every generator's test set holds as many reals as fakes,
so a detector that guesses has ROC-AUC ~0.5 and accuracy ~0.5. The asserted
floors sit far above what guessing reaches (for 8 + 8 test images per generator
the ROC-AUC of a coin flip has a standard deviation of ~0.15, the mean of seven
~0.06; for the 56 + 56 scanned images ~0.055 and accuracy ~0.05). The smoke
build is deterministic; it measured a mean diagonal ROC-AUC of 0.95, a scan
ROC-AUC of 0.94 and a scan accuracy of 0.92.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from fakescope.demo import demo_preset, format_seconds, run_demo
from fakescope.detectors.catalog import Detector
from fakescope.forge.presets import NON_FACE, get_preset


def test_demo_builds_evaluates_saves_and_scans(tmp_path: Path) -> None:
    result = run_demo(tmp_path / "demo", preset="smoke", progress=False)

    matrix = result.report.matrix()
    assert sorted(matrix.index) == sorted(NON_FACE)  # one detector per generator
    assert set(NON_FACE) <= set(matrix.columns)  # each tested on every generator
    assert matrix.to_numpy().min() >= 0.0 and matrix.to_numpy().max() <= 1.0
    diagonal = np.array([matrix.loc[g, g] for g in NON_FACE])
    assert diagonal.mean() > 0.75  # each detector finds its own generator's fakes
    assert result.report_html.read_text().startswith("<!DOCTYPE html>")

    detector = Detector.load(result.bundle)
    assert detector.classes_ == ["real", "fake"]
    scan = pd.read_csv(result.scan_csv)
    manifest = pd.read_parquet(tmp_path / "demo" / "benchmark" / "manifest.parquet")
    assert len(scan) == int((manifest["split"] == "test").sum())
    truth = scan["path"].str.contains("/1_fake/").astype(int)
    assert truth.sum() == len(scan) // 2  # as many fakes as reals: chance is 0.5
    assert roc_auc_score(truth, scan["p_fake"]) > 0.8
    assert ((scan["verdict"] == "fake") == (truth == 1)).mean() > 0.7

    assert list(result.seconds) == [
        "benchmark",
        "cross-generator evaluation",
        "detector on all generators",
        "scan",
    ]
    assert all(s >= 0 for s in result.seconds.values())


def test_format_seconds() -> None:
    assert format_seconds(0.4) == "0 s"
    assert format_seconds(59.6) == "1 min 0 s"
    assert format_seconds(652.2) == "10 min 52 s"


def test_demo_preset_is_mini_with_shorter_training() -> None:
    mini, demo = get_preset("mini"), demo_preset("mini")
    assert demo.generators == mini.generators and demo.counts == mini.counts
    assert demo.resolution == mini.resolution and demo.seed == mini.seed
    steps = {g: (demo.steps_for(g), mini.steps_for(g)) for g in mini.generators}
    assert all(0 < d <= m for d, m in steps.values()) and sum(
        d for d, _ in steps.values()
    ) < 0.6 * sum(m for _, m in steps.values())
    assert demo_preset("smoke") == get_preset("smoke")  # other presets unchanged
