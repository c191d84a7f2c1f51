"""``fakescope eval``: a saved bundle, or a protocol that trains; report files and overall table."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from fakescope.cli.app import app

REPORT_FILES = {"report.json", "report.md", "report.html"}


def report_json(out: Path) -> dict[str, Any]:
    return json.loads((out / "report.json").read_text())


def test_eval_bundle_with_robustness_tiers(
    runner: CliRunner, tiny_bundle: Path, dataset: Path, tmp_path: Path
) -> None:
    out = tmp_path / "report"
    args = ["eval", "--model", str(tiny_bundle), "--data", str(dataset), "--out", str(out)]
    res = runner.invoke(
        app,
        [
            *args,
            "--jpeg",
            "75",
            "--jpeg",
            "50",
            "--blur",
            "1.0",
            "--downscale",
            "0.5",
            "--no-progress",
        ],
    )
    assert res.exit_code == 0, res.output
    assert {p.name for p in out.iterdir()} >= REPORT_FILES
    rep = report_json(out)
    assert rep["meta"]["protocol"] == "all" and rep["meta"]["bundle"] == tiny_bundle.name
    overall = [m for m in rep["metrics"] if m["generator"] == "(all)"]
    assert [(m["tier"], m["value"]) for m in overall] == [
        ("clean", None),
        ("jpeg", 75.0),
        ("jpeg", 50.0),
        ("blur", 1.0),
        ("downscale", 0.5),
    ]
    assert overall[0]["n_real"] == 6 and overall[0]["n_fake"] == 6  # the test split only
    assert "overall" in res.stdout and "wrote report to" in res.stdout
    assert "jpeg" in res.stdout


def test_eval_cross_generator_trains_per_generator(
    runner: CliRunner, dataset: Path, tmp_path: Path
) -> None:
    out = tmp_path / "xgen"
    args = [
        "eval",
        "--detector",
        "tiny-test",
        "--protocol",
        "cross-generator",
        "--data",
        str(dataset),
    ]
    res = runner.invoke(
        app, [*args, "--out", str(out), "--set", "detector.params.num_workers=0", "--no-progress"]
    )
    assert res.exit_code == 0, res.output
    rep = report_json(out)
    assert {m["train"] for m in rep["metrics"]} == {"diffusion", "gan"}
    assert rep["meta"]["protocol"] == "cross-generator"
    assert "train" in res.stdout  # the overall table shows the train source column


def test_eval_single_source_and_leave_one_family_out(
    runner: CliRunner, dataset: Path, tmp_path: Path
) -> None:
    base = ["eval", "--detector", "tiny-test", "--data", str(dataset), "--no-progress"]
    base += ["--set", "detector.params.num_workers=0"]
    out = tmp_path / "single"
    res = runner.invoke(
        app,
        [*base, "--protocol", "single-source", "--set", "eval.source=gan", "--out", str(out)],
    )
    assert res.exit_code == 0, res.output
    rep = report_json(out)
    assert {m["train"] for m in rep["metrics"]} == {"gan"}
    assert {m["generator"] for m in rep["metrics"]} == {"(all)", "diffusion", "gan"}
    assert rep["meta"]["protocol"] == "single-source" and rep["meta"]["seen"] == {"gan": ["gan"]}
    res = runner.invoke(app, [*base, "--protocol", "single-source", "--source", "nope"])
    assert res.exit_code == 2 and "unknown source generator 'nope'" in res.stderr
    assert "diffusion, gan" in res.stderr
    lofo = [*base, "--protocol", "leave-one-family-out", "--holdout", "gans"]
    res = runner.invoke(app, lofo)  # the tiny dataset has no families without a family map
    assert res.exit_code == 2 and "family_map" in res.stderr
    families = tmp_path / "families.yaml"
    families.write_text("gans: [gan]\ndiffusions: [diffusion]\n")
    out = tmp_path / "lofo"
    res = runner.invoke(app, [*lofo, "--family-map", str(families), "--out", str(out)])
    assert res.exit_code == 0, res.output
    rep = report_json(out)
    assert {m["train"] for m in rep["metrics"]} == {"without gans"}
    assert rep["meta"]["held_out"] == {"without gans": ["gan"]}


def test_eval_from_config_file(runner: CliRunner, dataset: Path, tmp_path: Path) -> None:
    cfg = tmp_path / "exp.yaml"
    cfg.write_text(
        f"data:\n  root: {dataset}\ndetector:\n  name: tiny-test\n  params: {{num_workers: 0, steps: 20}}\n"
        "eval:\n  protocol: all\n  robustness: {jpeg: [60]}\nout: rep\n"
    )
    res = runner.invoke(app, ["eval", "--config", str(cfg), "--no-progress"])
    assert res.exit_code == 0, res.output
    rep = report_json(tmp_path / "rep")  # out resolves relative to the config file
    assert rep["meta"]["params"]["steps"] == 20
    assert {m["tier"] for m in rep["metrics"]} == {"clean", "jpeg"}


def test_eval_rejects_bad_combinations(
    runner: CliRunner, tiny_bundle: Path, dataset: Path, tmp_path: Path
) -> None:
    base = ["eval", "--data", str(dataset), "--out", str(tmp_path / "r")]
    res = runner.invoke(app, [*base, "--model", str(tiny_bundle), "--protocol", "cross-generator"])
    assert res.exit_code == 2 and "--detector NAME instead of --model" in res.stderr
    res = runner.invoke(app, [*base, "--model", str(tiny_bundle), "--detector", "cnn"])
    assert res.exit_code == 2 and "one or the other" in res.stderr
    res = runner.invoke(app, [*base, "--model", str(tiny_bundle), "--jpeg", "0"])
    assert res.exit_code == 2 and "jpeg" in res.stderr.lower()
    res = runner.invoke(app, [*base, "--detector", "tiny-test", "--protocol", "leave-nothing-out"])
    assert (
        res.exit_code == 2 and "unknown protocol" in res.stderr and "cross-generator" in res.stderr
    )
    assert not (tmp_path / "r").exists()
