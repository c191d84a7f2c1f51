"""``fakescope results run`` / ``results page`` with the test-only tiny-test detector."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from fakescope.cli.app import app
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
        (["run", str(plan), "--data", str(tmp_path / "none"), "--out", str(out)], "forge build"),
        (["page", str(tmp_path / "none")], "not a folder"),
    ]
    for args, match in cases:
        res = runner.invoke(app, ["results", *args])
        assert res.exit_code == 2, res.output
        lines = error_lines(res.stderr)
        assert len(lines) == 1 and match in lines[0], res.stderr
    assert not out.exists()


STUDIES = """
title: Studies plan
highlight: good
datasets:
  zoo: {note: a second toy set}
protocols:
  - name: loo
    protocol: leave-one-out
    title: Leave one generator out
    set: {eval.group: generator}
  - {name: zoo-to-default, protocol: cross-dataset, data: zoo, test_data: default}
recipes:
  good: {config: good.yaml}
  other: {config: good.yaml, set: {detector.params.steps: 10}}
"""


def test_results_run_studies_over_two_datasets(
    runner: CliRunner, dataset: Path, tmp_path: Path
) -> None:
    from tests.cli.tiny_detector import make_dataset

    zoo = make_dataset(tmp_path / "zoo", n=4, generators=("x", "y"))
    plan = write_plan(tmp_path / "cfg", STUDIES)
    out, page = tmp_path / "runs", tmp_path / "page.md"
    args = ["results", "run", str(plan), "--data", str(dataset), "-d", f"zoo={zoo}"]
    res = runner.invoke(app, [*args, "--out", str(out), "--page", str(page), "--no-progress"])
    assert res.exit_code == 0, res.output
    info = json.loads((out / "other" / "zoo-to-default" / "run.json").read_text())
    assert (info["study"], info["protocol"], info["dataset"]) == (
        "zoo-to-default",
        "cross-dataset",
        "zoo",
    )
    assert info["data"] == ".../zoo" and info["test_data"] == f".../{dataset.name}"
    assert f"--data .../{dataset.name} --data zoo=.../zoo --out" in info["command"]
    loo = json.loads((out / "good" / "loo" / "report.json").read_text())["meta"]
    assert loo["protocol"] == "leave-one-out" and loo["group"] == "generator"
    text = page.read_text()
    assert "## Study `loo`: Leave one generator out" in text
    assert "## Study `zoo-to-default`" in text and "tested on the default dataset" in text
    assert "- **Data `zoo`**: `.../zoo` - a second toy set" in text
    assert text.count("best: ") == 2
    assert text.count("vs the best other recipe; 95% CI [") == 2  # paired bootstrap
    assert str(tmp_path) not in text

    page2 = tmp_path / "page2.md"
    res = runner.invoke(app, ["results", "page", str(out), "--out", str(page2)])
    assert res.exit_code == 0, res.output  # from plan.json alone: the same sections
    assert (
        page2.read_text().split("\n- **Runs made by**")[1] == text.split("\n- **Runs made by**")[1]
    )


def test_results_data_errors_are_one_line(runner: CliRunner, dataset: Path, tmp_path: Path) -> None:
    studies = write_plan(tmp_path / "s", STUDIES)
    plain = write_plan(tmp_path / "p")
    out = tmp_path / "runs"
    ds = str(dataset)
    cases = [
        ([str(studies), "--data", "=x"], "no dataset name before '='"),
        ([str(studies), "--data", ds, "--data", "zoo="], "no path after '='"),
        ([str(studies), "--data", ds], "add --data zoo=PATH"),
        ([str(studies), "--data", ds, "--data", f"nope={ds}"], "declares no dataset 'nope'"),
        ([str(studies), "--data", ds, "--data", f"zoo={tmp_path / 'none'}"], "fix --data zoo"),
        ([str(plain)], "pass --data PATH"),
    ]
    for args, match in cases:
        res = runner.invoke(app, ["results", "run", *args, "--out", str(out)])
        assert res.exit_code == 2, res.output
        lines = error_lines(res.stderr)
        assert len(lines) == 1 and match in lines[0], res.stderr
    assert not out.exists()
