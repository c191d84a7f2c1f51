"""``fakescope results run`` / ``results page`` with the test-only tiny-test detector."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from fakescope.cli import app
from tests.cli.conftest import error_lines

RECIPE = "detector:\n  name: tiny-test\n  params: {steps: 20, num_workers: 0}\n"
PLAN = """
title: CLI plan
benchmark_note: two toy generators
protocols: [all]
recipes:
  good: {config: good.yaml, protocols: [all, cross-generator]}
  bad: {config: good.yaml, set: {detector.params.nope: 1}}
"""


def write_plan(root: Path, body: str = PLAN) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "good.yaml").write_text(RECIPE)
    (root / "plan.yaml").write_text(body)
    return root / "plan.yaml"


def test_results_run_then_page(runner: CliRunner, dataset: Path, tmp_path: Path) -> None:
    plan = write_plan(tmp_path / "cfg")
    out, page = tmp_path / "runs", tmp_path / "docs" / "results.md"
    args = ["results", "run", str(plan), "--data", str(dataset), "--out", str(out)]
    res = runner.invoke(app, [*args, "--page", str(page)])
    assert res.exit_code == 1, res.output  # 'bad' failed; the others ran
    assert "[1/3] good x all: done in" in res.stdout
    assert "[3/3] bad x all: FAILED" in res.stdout and "'nope'" in res.stdout
    assert (out / "good" / "cross-generator" / "report.json").is_file()
    info = json.loads((out / "good" / "all" / "run.json").read_text())
    # paths outside the repository are recorded portably (.../NAME), never as temp paths
    assert info["command"].startswith(
        f"fakescope results run .../plan.yaml --data .../{dataset.name}"
    )
    assert (
        str(tmp_path) not in json.dumps(info["command"]) and info["data"] == f".../{dataset.name}"
    )
    text = page.read_text()
    assert "# CLI plan" in text and "two toy generators" in text
    assert "## Protocol `cross-generator`" in text and "| good (diffusion) |" in text
    assert "| bad | all | failed |" in text  # in the missing-runs list

    res = runner.invoke(app, [*args, "--only", "good", "--no-progress"])
    assert res.exit_code == 0, res.output  # finished runs are skipped, 'bad' not selected
    assert "finished earlier" not in res.stdout  # --no-progress: no per-run lines

    page2 = tmp_path / "page2.md"
    res = runner.invoke(app, ["results", "page", str(out), "--out", str(page2)])
    assert res.exit_code == 0, res.output
    text2 = page2.read_text()
    assert "by**: `fakescope results page .../runs --out .../page2.md`" in text2
    assert str(tmp_path) not in text2
    assert "# CLI plan" in text2  # the plan saved with the runs lists the failed run too
    assert "| bad | all | failed |" in text2


def test_results_user_errors_are_one_line(runner: CliRunner, dataset: Path, tmp_path: Path) -> None:
    plan = write_plan(tmp_path / "cfg")
    out = tmp_path / "runs"
    cases = [
        (["run", str(tmp_path / "nope.yaml"), "--data", str(dataset)], "does not exist"),
        (["run", str(plan), "--data", str(dataset), "--only", "zzz"], "unknown recipe"),
        (["run", str(plan), "--data", str(tmp_path / "none"), "--out", str(out)], "bench build"),
        (["page", str(tmp_path / "none")], "not a folder"),
    ]
    for args, match in cases:
        res = runner.invoke(app, ["results", *args])
        assert res.exit_code == 2, res.output
        lines = error_lines(res.stderr)
        assert len(lines) == 1 and match in lines[0], res.stderr
    assert not out.exists()
