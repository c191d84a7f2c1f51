"""The results runner: plan parsing, one run per recipe x protocol, resume, failures recorded."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import fakescope
from fakescope.errors import ConfigError, DataError, FakescopeError
from fakescope.eval import protocols
from fakescope.eval.metrics import AUC, CLEAN, GENERATOR, KEY_COLUMNS, METRIC_COLUMNS, TIER
from fakescope.eval.metrics import TRAIN as TRAIN_COL
from fakescope.eval.metrics import VALUE as VALUE_COL
from fakescope.eval.report import Report
from fakescope.eval.results import run_plan
from fakescope.eval.results_plan import load_plan, run_overrides
from tests.cli.tiny_detector import (
    make_dataset,
    tiny_registered,  # noqa: F401 - autouse fixture
)

TINY = "detector:\n  name: tiny-test\n  params: {steps: 40, num_workers: 0}\n"


def write_plan(root: Path, body: str, recipes: Mapping[str, str] | None = None) -> Path:
    """A plan file ``root/plan.yaml`` plus one tiny-test recipe config per name in ``recipes``."""
    root.mkdir(parents=True, exist_ok=True)
    for name, text in (recipes or {}).items():
        (root / "recipes").mkdir(exist_ok=True)
        (root / "recipes" / f"{name}.yaml").write_text(text)
    path = root / "plan.yaml"
    path.write_text(body)
    return path


PLAN = """
title: Test plan
protocols: [all, cross-generator]
recipes:
  alpha: {config: recipes/alpha.yaml, set: {detector.params.steps: 5}}
  beta: {config: recipes/beta.yaml, protocols: [all]}
"""


@pytest.fixture
def plan_path(tmp_path: Path) -> Path:
    return write_plan(tmp_path / "plan", PLAN, {"alpha": TINY, "beta": TINY})


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_dataset(tmp_path_factory.mktemp("results") / "ds", n=4, generators=("a", "b"))


def fake_report(auc: float = 0.75) -> Report:
    """A one-row report (clean, all generators) with ROC-AUC ``auc``."""
    row: dict[str, Any] = {c: math.nan for c in METRIC_COLUMNS}
    row.update({TRAIN_COL: "(all)", TIER: CLEAN, VALUE_COL: math.nan, GENERATOR: "(all)", AUC: auc})
    return Report(pd.DataFrame([row], columns=[*KEY_COLUMNS, *METRIC_COLUMNS]), {"toy": True})


class Recorder:
    """Stands in for run_protocol: records each call; raises for options source 'boom'."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, name: str, table: pd.DataFrame, factory: Any, **kw: Any) -> Report:
        self.calls.append((name, dict(kw.get("options") or {})))
        if (kw.get("options") or {}).get("source") == "boom":
            raise RuntimeError("boom\nsecond line")
        assert len(table) > 0 and factory().name == "tiny-test"
        return fake_report()


# ------------------------------------------------------------------ plans
def test_load_plan_resolves_configs_and_lists_runs(plan_path: Path) -> None:
    plan = load_plan(plan_path)
    assert plan.recipes["alpha"].config == (plan_path.parent / "recipes/alpha.yaml").resolve()
    assert plan.runs() == [("alpha", "all"), ("alpha", "cross-generator"), ("beta", "all")]
    assert plan.runs(["beta"]) == [("beta", "all")]
    with pytest.raises(ConfigError, match=r"unknown recipe.*gamma"):
        plan.runs(["gamma"])


@pytest.mark.parametrize(
    ("body", "match"),
    [
        (PLAN + "recipies: {}\n", "unknown key 'recipies'"),
        (PLAN.replace("set:", "sett:"), r"unknown key 'recipes\.alpha\.sett'"),
        ("title: x\nprotocols: []\nrecipes: {a: {config: recipes/alpha.yaml}}\n", "protocols"),
        ("title: x\nprotocols: [all]\nrecipes: {'a b': {config: recipes/alpha.yaml}}\n", "a b"),
        ("title: [unclosed\n", "not valid YAML"),
        ("- a list\n", "must hold a mapping"),
    ],
)
def test_bad_plan_is_one_line_config_error(tmp_path: Path, body: str, match: str) -> None:
    path = write_plan(tmp_path, body, {"alpha": TINY, "beta": TINY})
    with pytest.raises(ConfigError, match=match) as info:
        load_plan(path)
    assert "\n" not in str(info.value)


def test_missing_recipe_config_and_plan(tmp_path: Path) -> None:
    path = write_plan(tmp_path, PLAN, {"alpha": TINY})  # beta.yaml absent
    with pytest.raises(ConfigError, match=r"recipe 'beta': config .*beta\.yaml does not exist"):
        load_plan(path)
    with pytest.raises(ConfigError, match="does not exist"):
        load_plan(tmp_path / "nope.yaml")


def test_run_overrides_precedence(plan_path: Path, tmp_path: Path) -> None:
    plan = load_plan(plan_path)
    plan.source, plan.holdout = "a", None
    plan.recipes["alpha"].set.update({"eval.protocol": "ignored", "eval.source": "b"})
    got = run_overrides(plan, "alpha", "all", tmp_path / "d", tmp_path / "o")
    assert got["eval.source"] == "b"  # the recipe's set beats the plan's source
    assert "eval.holdout" not in got  # None = keep the recipe's own value
    assert got["eval.protocol"] == "all" and got["data.root"] == str(tmp_path / "d")
    assert got["out"] == str(tmp_path / "o") and got["detector.params.steps"] == 5


# ---------------------------------------------------------------- running
def test_run_plan_writes_runs_and_resume_skips_them(
    plan_path: Path, data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rec = Recorder()
    monkeypatch.setattr(protocols, "run_protocol", rec)
    lines: list[str] = []
    out = tmp_path / "runs"
    dirs = run_plan(plan_path, data, out, echo=lines.append, command="make it")
    assert dirs == [out / "alpha" / "all", out / "alpha" / "cross-generator", out / "beta" / "all"]
    assert [name for name, _ in rec.calls] == ["all", "cross-generator", "all"]
    options = rec.calls[0][1]
    assert (options["source"], options["holdout"], options["group"]) == (None, None, None)
    for d in dirs:
        assert Report.from_json((d / "report.json").read_text()).metrics[AUC].iloc[0] == 0.75
        assert (d / "report.md").is_file()
    info = json.loads((out / "alpha" / "all" / "run.json").read_text())
    assert info["status"] == "ok" and info["command"] == "make it"
    assert info["recipe"] == "alpha" and info["protocol"] == "all"
    assert info["overrides"]["detector.params.steps"] == 5
    assert info["overrides"]["data.root"] == str(data.resolve())
    assert info["fakescope_version"] == fakescope.__version__ and info["seconds"] >= 0
    assert info["machine"]["cpus"] >= 1 and info["machine"]["torch"]
    assert json.loads((out / "plan.json").read_text())["title"] == "Test plan"
    assert len(lines) == 6 and lines[0].startswith("[1/3] alpha x all")

    lines.clear()
    assert run_plan(plan_path, data, out, echo=lines.append) == dirs
    assert len(rec.calls) == 3  # nothing ran again
    assert all("skipped" in line for line in lines) and len(lines) == 3


def test_failing_run_is_recorded_and_others_run(
    tmp_path: Path, data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = PLAN.replace("set: {", "set: {eval.source: boom, ")
    path = write_plan(tmp_path / "p", body, {"alpha": TINY, "beta": TINY})
    rec = Recorder()
    monkeypatch.setattr(protocols, "run_protocol", rec)
    out = tmp_path / "runs"
    run_plan(path, data, out, progress=False)
    assert len(rec.calls) == 3  # alpha failed twice, beta still ran
    for protocol in ("all", "cross-generator"):
        failed = out / "alpha" / protocol
        info = json.loads((failed / "run.json").read_text())
        assert info["status"] == "failed" and info["error"] == "RuntimeError: boom second line"
        assert not (failed / "report.json").exists()
        assert "RuntimeError" in (failed / "error.log").read_text()
    assert (out / "beta" / "all" / "report.json").is_file()
    run_plan(path, data, out, progress=False)
    assert [n for n, _ in rec.calls[3:]] == ["all", "cross-generator"]  # failures retried


def test_bad_recipe_params_fail_that_run_only(
    tmp_path: Path, data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = PLAN.replace("set: {detector.params.steps: 5}", "set: {detector.params.x: 1}")
    path = write_plan(tmp_path / "p", body, {"alpha": TINY, "beta": TINY})
    rec = Recorder()
    monkeypatch.setattr(protocols, "run_protocol", rec)
    run_plan(path, data, tmp_path / "runs", progress=False)
    info = json.loads((tmp_path / "runs" / "alpha" / "all" / "run.json").read_text())
    assert info["status"] == "failed" and "ConfigError" in info["error"] and "'x'" in info["error"]
    assert [n for n, _ in rec.calls] == ["all"]  # only beta reached the protocol


def test_errors_before_any_run(plan_path: Path, data: Path, tmp_path: Path) -> None:
    body = PLAN.replace("[all, cross-generator]", "[all, nope]")
    bad = write_plan(tmp_path / "q", body, {"alpha": TINY, "beta": TINY})
    with pytest.raises(FakescopeError, match="nope"):
        run_plan(bad, data, tmp_path / "runs1", progress=False)
    with pytest.raises(DataError, match="does not exist"):
        run_plan(plan_path, tmp_path / "no-bench", tmp_path / "runs2", progress=False)
    assert not (tmp_path / "runs1").exists() and not (tmp_path / "runs2").exists()


def test_real_protocols_with_a_tiny_detector(plan_path: Path, data: Path, tmp_path: Path) -> None:
    out = tmp_path / "runs"
    run_plan(plan_path, data, out, only=["alpha"], progress=False)
    report = Report.from_json((out / "alpha" / "cross-generator" / "report.json").read_text())
    assert report.meta["protocol"] == "cross-generator" and report.sources == ["a", "b"]
    assert report.meta["params"]["steps"] == 5  # the plan's set reached the detector
    assert not (out / "beta").exists()
