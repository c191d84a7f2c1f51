"""The model card: real numbers from given reports (with bootstrap intervals when scores
are kept), training facts from meta.json, no absolute paths, families never trained on."""

from __future__ import annotations

import json
import math
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score
from typer.testing import CliRunner

from fakescope.cli.app import app
from fakescope.data.schema import LABEL, PATH, SPLIT
from fakescope.eval.metrics import CLEAN, GENERATOR, OVERALL, TIER, TRAIN, VALUE, group_metrics
from fakescope.eval.model_card import EvalInput, bootstrap_interval, build_card, parse_eval
from fakescope.eval.report import ERROR, P_FAKE, SCORES_FILE, Report
from fakescope.inference import default_model as dm
from tests.cli.tiny_detector import (
    TinyDetector,
    make_dataset,
    tiny_registered,  # noqa: F401 - autouse fixture
)

THRESHOLD = 0.4


@pytest.fixture(scope="session")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny-test bundle with calibration, an OOD abstainer and release facts whose
    training command holds absolute paths."""
    from fakescope.data.index import index_dataset
    from fakescope.inference.fit_bundle import calibrate_detector
    from fakescope.ood.abstain import Abstainer

    root = tmp_path_factory.mktemp("card")
    data = make_dataset(root / "ds", n=6, generators=("gan", "diffusion"))
    table = index_dataset(data)
    train, val = table[table[SPLIT] == "train"], table[table[SPLIT] == "val"]
    det = TinyDetector({"steps": 50, "num_workers": 0})
    det.fit(train, val)
    out = det.save(root / "bundle")
    calibrate_detector(det, val, alpha=0.5).save(out)
    Abstainer.fit(det, train, val, progress=False).save(out)
    dm.seal(
        out,
        {
            "release": {"name": "fakescope default", "version": "9.9"},
            "training_data": {
                "sources": [
                    {"name": "cifar10", "real": 1200, "fake": 0, "licence": "MIT"},
                    {"name": "toy-gan", "real": 0, "fake": 700, "licence": "CC-BY-4.0"},
                ],
                "families": ["gan", "diffusion"],
                "absent_families": ["autoregressive", "faceswap"],
            },
            "train_command": f"fakescope train --data {data} --out {out}",
        },
    )
    return out


def write_report(folder: Path, *, n: int, seed: int, keep_scores: bool) -> tuple[Report, Path]:
    """A report of ``n`` reals and ``n`` fakes (half gan, half diffusion) with overlapping scores."""
    rng = np.random.default_rng(seed)
    y = np.repeat([0, 1], n)
    gen = np.tile(["gan", "diffusion"], n)
    p = np.clip(rng.normal(0.35 + 0.3 * y, 0.2), 0, 1)
    table = pd.DataFrame({LABEL: y, GENERATOR: gen, PATH: [f"img/{i}.png" for i in range(2 * n)]})
    frame = group_metrics(table, p, THRESHOLD)
    frame.insert(0, VALUE, math.nan)
    frame.insert(0, TIER, CLEAN)
    frame.insert(0, TRAIN, OVERALL)
    scores = pd.DataFrame(
        {TRAIN: OVERALL, PATH: table[PATH], LABEL: y, GENERATOR: gen, P_FAKE: p, ERROR: ""}
    )
    report = Report(frame, {"bundle": str(folder.resolve())}, scores if keep_scores else None)
    report.write(folder, html_report=False)
    return report, folder / "report.json"


def overall(report: Report) -> pd.Series:
    rows = report.metrics
    return rows[rows[GENERATOR] == OVERALL].iloc[0]


def test_card_holds_the_reports_numbers_with_intervals(bundle: Path, tmp_path: Path) -> None:
    report, path = write_report(tmp_path / "realgen", n=150, seed=1, keep_scores=True)
    card = build_card(bundle, [EvalInput("realgen-dev", path)])
    scores = report.scores
    assert scores is not None
    y, p = scores[LABEL].to_numpy(), scores[P_FAKE].to_numpy()
    auc = roc_auc_score(y, p)  # independent of the report's own computation
    acc = float(((p >= THRESHOLD) == (y == 1)).mean())
    assert overall(report)["roc_auc"] == pytest.approx(auc)
    row = next(line for line in card.splitlines() if line.startswith("| all images |"))
    found = re.search(rf"{auc:.3f} \[(\d\.\d+), (\d\.\d+)\]", row)
    assert found, row
    low, high = float(found[1]), float(found[2])
    assert low < auc < high
    assert re.search(rf"{acc:.3f} \[\d\.\d+, \d\.\d+\]", row)
    assert f"{average_precision_score(y, p):.3f}" in row
    assert "### realgen-dev" in card and "| gan |" in card and "| diffusion |" in card
    assert "bootstrap" in card


def test_auc_interval_width_matches_the_hanley_mcneil_standard_error() -> None:
    rng = np.random.default_rng(3)
    n = 200
    y = np.repeat([0, 1], n)
    p = rng.normal(0.9 * y, 1.0)
    auc = roc_auc_score(y, p)
    q1, q2 = auc / (2 - auc), 2 * auc**2 / (1 + auc)
    se = math.sqrt((auc * (1 - auc) + (n - 1) * (q1 - auc**2) + (n - 1) * (q2 - auc**2)) / n**2)
    low, high = bootstrap_interval(y, p, None)["roc_auc"]
    assert (high - low) / 2 == pytest.approx(1.96 * se, rel=0.2)
    assert low < auc < high
    separable = bootstrap_interval(y, y + 0.1 * rng.random(2 * n), 0.5)
    assert separable["roc_auc"] == (1.0, 1.0) and separable["acc"] == (1.0, 1.0)


def test_without_scores_the_card_gives_point_numbers(bundle: Path, tmp_path: Path) -> None:
    report, path = write_report(tmp_path / "holdout", n=20, seed=2, keep_scores=False)
    assert not (path.parent / SCORES_FILE).exists()
    card = build_card(bundle, [parse_eval(str(path.parent))])  # folder -> its report.json
    row = next(line for line in card.splitlines() if line.startswith("| all images |"))
    assert f"| {overall(report)['roc_auc']:.3f} |" in row and "[" not in row
    assert "### holdout" in card and "Point estimates only" in card


def test_training_facts_calibration_abstainer_and_missing_families(bundle: Path) -> None:
    from fakescope.inference.calibration import Calibrator

    card = build_card(bundle)
    assert "| cifar10 | 1200 | 0 | 1200 | MIT |" in card
    assert "| toy-gan | 0 | 700 | 700 | CC-BY-4.0 |" in card
    assert "fakescope train --data" in card
    limits = card.split("## Known limits", 1)[1]
    assert "autoregressive, faceswap" in limits and "gan" not in limits.split(".")[0]
    cal = Calibrator.load(bundle)
    assert cal is not None and f"Method: {cal.method}" in card and f"on {cal.n_val} " in card
    ood = json.loads((bundle / "ood.json").read_text())
    assert f"above {ood['threshold']:.4f}" in card and ood["scorer"] in card
    assert "| detector | tiny-test |" in card


def test_unrecorded_facts_are_said_to_be_unrecorded(bundle: Path, tmp_path: Path) -> None:
    plain = Path(shutil.copytree(bundle, tmp_path / "plain"))
    meta = json.loads((plain / "meta.json").read_text())
    for key in dm.CARD_KEYS:
        meta.pop(key)
    (plain / "meta.json").write_text(json.dumps(meta))
    (plain / "ood.json").unlink()
    card = build_card(plain)
    assert "Sources and licences: not recorded" in card
    assert "Training command: not recorded" in card
    assert "families absent from the training data: not recorded" in card
    assert "None: unusual images are not flagged" in card


def test_card_command_writes_no_absolute_paths(
    bundle: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, path = write_report(tmp_path / "realgen", n=20, seed=4, keep_scores=True)
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "docs" / "model-card.md"
    out.parent.mkdir()
    res = CliRunner().invoke(
        app, ["bundle", "card", str(bundle), "--out", str(out), "--eval", f"dev={path}"]
    )
    assert res.exit_code == 0, res.output
    card = out.read_text()
    assert "### dev" in card and "fakescope train --data" in card
    assert str(tmp_path) not in card and str(bundle.parent) not in card
    assert not re.search(r"(?<![\w.:/~])/(?:tmp|home|work|root|private)\b", card)
    assert [p.name for p in out.parent.iterdir()] == ["model-card.md"]  # no temp file left


def test_missing_report_is_a_one_line_error(bundle: Path, tmp_path: Path) -> None:
    res = CliRunner().invoke(
        app, ["bundle", "card", str(bundle), "--eval", str(tmp_path / "nope.json")]
    )
    assert res.exit_code == 2
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "fakescope eval" in lines[0]
