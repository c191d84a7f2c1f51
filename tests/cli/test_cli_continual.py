"""``fakescope continual``: a tiny 2-task run, the report files, the docs page, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from fakescope.cli.app import app
from tests.continual.conftest import CONFLICT, make_tasks

TINY = [
    "--set", "detector.params.arch=test_resnet",
    "--set", "detector.params.img_size=16",
    "--set", "detector.params.num_workers=0",
    "--set", "detector.params.batch_size=16",
    "--set", "detector.params.progress=false",
    "--set", "detector.params.patience=0",
    "--set", "detector.params.lr=0.01",
    "--epochs", "1",
]  # fmt: skip


def test_continual_run_writes_report_and_page(tmp_path: Path) -> None:
    root = make_tasks(tmp_path / "data", CONFLICT, n=6, n_val=4)
    out = tmp_path / "run"
    args = ["continual", "--data", str(root), "--tasks", "A,B", "--methods", "ft,cored"]
    result = CliRunner().invoke(app, [*args, "--out", str(out), "--shots", "4", *TINY])
    assert result.exit_code == 0, result.output
    assert "ft: AA" in result.output and "cored: AA" in result.output
    report = json.loads((out / "report.json").read_text())
    assert report["tasks"] == ["A", "B"]
    for entry in report["methods"].values():
        assert entry["auc"][0][1] is None and entry["acc"][0][1] is None
        assert all(0.0 <= v <= 1.0 for row in entry["auc"] for v in row if v is not None)
        assert {"aa", "af", "aa_acc", "af_acc", "map"} <= set(entry)
        assert entry["ap"][1][0] is not None and entry["ap"][0][1] is None
    page = tmp_path / "docs" / "continual.md"
    result = CliRunner().invoke(app, ["continual", "--out", str(out), "--page", str(page)])
    assert result.exit_code == 0, result.output
    text = page.read_text()
    assert "| ft |" in text and "| cored |" in text and "A -> B" in text


def test_continual_errors_are_one_line(tmp_path: Path) -> None:
    root = make_tasks(tmp_path / "data", CONFLICT, n=3, n_val=2)
    base = ["continual", "--data", str(root), "--out", str(tmp_path / "o"), *TINY]
    cases = {
        "unknown task 'C'; tasks are generators (A, B)": ["--tasks", "A,C"],
        "fewer than --shots 9": ["--tasks", "A,B", "--shots", "9"],
        "cannot hold one image per class": [
            "--tasks",
            "A,B",
            "--methods",
            "replay",
            "--memory",
            "1",
        ],
        "unknown continual method 'icarl'": ["--tasks", "A,B", "--methods", "icarl"],
    }
    for message, extra in cases.items():
        result = CliRunner().invoke(app, [*base, *extra])
        assert result.exit_code == 2, result.output
        lines = [ln for ln in result.output.splitlines() if ln.strip()]
        assert len(lines) == 1 and message in lines[0], result.output
    result = CliRunner().invoke(
        app, ["continual", "--out", str(tmp_path / "none"), "--page", "x.md"]
    )
    assert result.exit_code == 2 and "no report.json" in result.output
