"""Results plans with studies over named datasets: parsing, --data NAME=PATH, folders, overrides."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from fakescope.config import load_config
from fakescope.data.normalize import SOURCE_PATH
from fakescope.data.schema import GENERATOR
from fakescope.errors import ConfigError, DataError
from fakescope.eval import protocols
from fakescope.eval.report import Report
from fakescope.eval.results import (
    parse_data_options,
    portable_command,
    resolve_datasets,
    run_plan,
)
from fakescope.eval.results_plan import (
    DEFAULT_DATASET,
    Study,
    load_plan,
    parse_plan,
    run_overrides,
)
from tests.cli.tiny_detector import (
    make_dataset,
    tiny_registered,  # noqa: F401 - autouse fixture
)
from tests.eval.test_results import TINY, fake_report, write_plan

STUDIES = """
title: Studies
highlight: alpha
datasets:
  realgen: {{note: real generators}}
  mini: {{path: {mini}}}
protocols:
  - name: realgen-loo
    protocol: leave-one-out
    data: realgen
    title: Leave one out, normalised
    note: the normalised study
    set: {{eval.group: generator, data.normalize.crop: 16, data.normalize.cache: {cache}}}
  - name: zoo-to-realgen
    protocol: cross-dataset
    data: mini
    test_data: realgen
recipes:
  alpha:
    config: recipes/alpha.yaml
    set: {{detector.params.steps: 5}}
    per_study: {{zoo-to-realgen: {{detector.params.steps: 7}}}}
  beta:
    config: recipes/beta.yaml
    protocols: [realgen-loo, {{name: mini-all, protocol: all, data: mini}}]
"""


def studies_plan(root: Path, mini: str = "../mini", cache: str = "cache") -> Path:
    body = STUDIES.format(mini=mini, cache=cache)
    return write_plan(root, body, {"alpha": TINY, "beta": TINY})


def raw_plan(**extra: Any) -> dict[str, Any]:
    """A parsed plan with one named dataset and one study, plus ``extra`` top-level keys."""
    study = {"name": "loo", "protocol": "leave-one-out", "data": "rg", "set": {"eval.group": "g"}}
    raw: dict[str, Any] = {
        "title": "t",
        "datasets": {"rg": {}},
        "protocols": [study, "all"],
        "recipes": {"a": {"config": "a.yaml"}, "b": {"config": "b.yaml", "protocols": ["loo"]}},
    }
    return raw | extra


@pytest.fixture(scope="module")
def realgen(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_dataset(tmp_path_factory.mktemp("rg") / "realgen", n=4, generators=("x", "y"))


@pytest.fixture(scope="module")
def mini(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_dataset(tmp_path_factory.mktemp("mini") / "mini", n=4, generators=("a", "b"))


# ------------------------------------------------------------------ plans
def test_studies_parse_and_recipes_name_them(tmp_path: Path) -> None:
    plan = load_plan(studies_plan(tmp_path / "p"))
    assert plan.runs() == [
        ("alpha", "realgen-loo"),
        ("alpha", "zoo-to-realgen"),
        ("beta", "realgen-loo"),
        ("beta", "mini-all"),
    ]
    loo = plan.studies_of("beta")[0]  # named by a string: the plan's full study
    assert loo == plan.protocols[0] and loo.title == "Leave one out, normalised"
    assert loo.set["data.normalize.crop"] == 16 and not loo.is_plain
    assert plan.study("mini-all") == Study(name="mini-all", protocol="all", data="mini")
    assert plan.datasets["mini"].path == (tmp_path / "mini").resolve()  # relative to the plan
    assert plan.dataset_keys() == ["realgen", "mini"]
    assert plan.dataset_keys(["beta"]) == ["realgen", "mini"]
    # a bare protocol name stays a plain study on the default dataset
    plain = parse_plan(raw_plan()).protocols[1]
    assert plain == Study.plain("all") and plain.is_plain and plain.data == DEFAULT_DATASET
    # plan.json round trip (the page reads it): the same plan
    assert parse_plan(json.loads(plan.model_dump_json())) == plan


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (
            {"protocols": ["all", {"name": "all", "protocol": "single-source"}]},
            "'all' appears twice",
        ),
        ({"datasets": {}}, "unknown dataset 'rg'"),
        (
            {"protocols": [{"name": "x", "protocol": "all", "test_data": "zz"}]},
            "unknown dataset 'zz'",
        ),
        (
            {
                "recipes": {
                    "a": {"config": "a", "protocols": [{"name": "all", "protocol": "ood"}]},
                    "b": {"config": "b"},
                }
            },
            "study 'all' differs",
        ),
        ({"protocols": [{"name": "a b", "protocol": "all"}]}, "study name 'a b'"),
        ({"protocols": [{"name": "s", "protocol": "all", "set": {"data.root": "x"}}]}, "data.root"),
        ({"protocols": [{"name": "s", "protocol": "all", "titel": "x"}]}, "'protocols.0.titel'"),
        ({"highlight": "general"}, "highlight 'general' is not a recipe"),
        ({"datasets": {"rg": {}, "a/b": {}}}, "dataset name 'a/b'"),
        (
            {"recipes": {"a": {"config": "a", "per_study": {"nope": {"eval.group": "g"}}}}},
            "recipe 'a': per_study names study 'nope', which it does not run under; use one of "
            "loo, all",
        ),
        (  # b runs under loo only: a plan study it does not run is unknown to it as well
            {"recipes": {"b": {"config": "b", "protocols": ["loo"], "per_study": {"all": {}}}}},
            "recipe 'b': per_study names study 'all'",
        ),
        (
            {"recipes": {"a": {"config": "a", "per_study": {"loo": {"eval.protocol": "all"}}}}},
            "per_study.loo may not hold eval.protocol",
        ),
        (
            {"recipes": {"a": {"config": "a", "per_study": {"loo": {"out": "x"}}}}},
            r"'recipes\.a\.per_study'.*may not hold out",
        ),
    ],
)
def test_bad_study_plans_are_one_line_config_errors(change: dict[str, Any], match: str) -> None:
    with pytest.raises(ConfigError, match=match) as info:
        parse_plan(raw_plan(**change))
    assert "\n" not in str(info.value)


def test_study_set_beats_recipe_set_and_run_keys_beat_both(tmp_path: Path) -> None:
    raw = raw_plan(source="gan")
    raw["protocols"][0]["set"] |= {"data.normalize.crop": 176}
    raw["recipes"]["b"]["set"] = {
        "detector.params.img_size": 64,
        "eval.group": "family",
        "data.normalize": {"jpeg_quality": 75, "crop": 64},
    }
    plan = parse_plan(raw)
    test = tmp_path / "t"
    got = run_overrides(plan, "b", "loo", tmp_path / "d", tmp_path / "o", test_data=test)
    assert got["detector.params.img_size"] == 64  # the recipe's own keys survive
    assert got["eval.group"] == "g" and got["eval.source"] == "gan"  # study > recipe > plan
    assert got["eval.protocol"] == "leave-one-out" and got["data.root"] == str(tmp_path / "d")
    assert got["eval.test_data"] == str(test) and got["out"] == str(tmp_path / "o")
    cfg = load_config(None, got)  # the study's crop lands on the recipe's normalize mapping
    assert cfg.data.normalize is not None
    assert (cfg.data.normalize.crop, cfg.data.normalize.jpeg_quality) == (176, 75)
    assert "eval.test_data" not in run_overrides(plan, "a", "all", tmp_path, tmp_path)


def test_per_study_beats_study_set_in_its_study_only(tmp_path: Path) -> None:
    raw = raw_plan(source="gan")
    raw["protocols"][0]["set"] |= {"data.normalize.crop": 176}
    raw["recipes"]["a"]["set"] = {
        "detector.params.img_size": 64,
        "detector.params.epochs": 2,
        "eval.group": "family",
        "data.normalize": {"jpeg_quality": 75, "crop": 64},
    }
    raw["recipes"]["a"]["per_study"] = {
        "loo": {"detector.params.img_size": 160, "eval.group": "pg", "data.normalize.crop": 32}
    }
    plan = parse_plan(raw)
    data, run = tmp_path / "d", tmp_path / "o"
    loo = plan.studies_of("a")[0]
    got = run_overrides(plan, "a", loo, data, run)
    assert got == run_overrides(plan, "a", "loo", data, run)  # a study or its name
    assert got["detector.params.img_size"] == 160  # per_study > recipe set
    assert got["eval.group"] == "pg"  # per_study > study set > recipe set
    assert got["detector.params.epochs"] == 2 and got["eval.source"] == "gan"
    assert got["eval.protocol"] == "leave-one-out" and got["data.root"] == str(data)
    cfg = load_config(None, got)  # per_study's crop lands last, on the merged mapping
    assert cfg.data.normalize is not None
    assert (cfg.data.normalize.crop, cfg.data.normalize.jpeg_quality) == (32, 75)
    # the other study of the same recipe keeps the recipe's set; other recipes are untouched
    other = run_overrides(plan, "a", "all", data, run)
    assert other["detector.params.img_size"] == 64 and other["eval.group"] == "family"
    assert run_overrides(plan, "b", "loo", data, run)["eval.group"] == "g"
    # the plan.json round trip keeps per_study
    assert parse_plan(json.loads(plan.model_dump_json())) == plan


# ---------------------------------------------------------------- --data
def test_parse_data_options() -> None:
    got = parse_data_options(["bench/mini", "realgen=/data/rg", "x.y-1=z"])
    assert got == {DEFAULT_DATASET: "bench/mini", "realgen": "/data/rg", "x.y-1": "z"}
    assert parse_data_options(["./a=b"]) == {DEFAULT_DATASET: "./a=b"}  # not a dataset name
    assert parse_data_options([]) == {}


@pytest.mark.parametrize(
    ("values", "match"),
    [
        (["=bench"], "no dataset name before '='"),
        (["realgen="], "no path after '='; use realgen=PATH"),
        (["rg=a", "rg=b"], "gives 'rg' twice"),
        (["a", "b"], r"default dataset \(--data PATH\) twice"),
    ],
)
def test_bad_data_options_are_one_line(values: list[str], match: str) -> None:
    with pytest.raises(ConfigError, match=match) as info:
        parse_data_options(values)
    assert "\n" not in str(info.value)


def test_resolve_datasets(tmp_path: Path, realgen: Path, mini: Path) -> None:
    plan = load_plan(studies_plan(tmp_path / "p", mini=str(mini)))
    keys = plan.dataset_keys()
    got = resolve_datasets(plan, {"realgen": str(realgen)}, keys)
    assert got["realgen"] == (realgen.resolve(), f".../{realgen.name}")
    assert got["mini"][0] == mini.resolve()  # from the plan's path
    cases: list[tuple[dict[str, str], type[Exception], str]] = [
        ({}, ConfigError, "dataset 'realgen' has no path in the plan; add --data realgen=PATH"),
        ({"realgen": str(tmp_path / "nope")}, DataError, "fix --data realgen=PATH"),
        ({"realgen": str(realgen), "zoo": "z"}, ConfigError, "declares no dataset 'zoo'"),
        ({"realgen": str(realgen), DEFAULT_DATASET: "m"}, ConfigError, "no study of this plan"),
    ]
    for given, error, match in cases:
        with pytest.raises(error, match=match) as info:
            resolve_datasets(plan, given, keys)
        assert "\n" not in str(info.value)
    plain = parse_plan(raw_plan())
    with pytest.raises(ConfigError, match="default dataset; pass --data PATH"):
        resolve_datasets(plain, {"rg": str(realgen)}, plain.dataset_keys())


def test_portable_command_handles_named_data() -> None:
    text = portable_command("fakescope results run p.yaml --data rg=/tmp/x/realgen --data /t/mini")
    assert text == "fakescope results run p.yaml --data rg=.../realgen --data .../mini"


# ---------------------------------------------------------------- running
class TableRecorder:
    """Stands in for run_protocol: keeps the name, options and table of every call."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any], pd.DataFrame, int]] = []

    def __call__(self, name: str, table: pd.DataFrame, factory: Any, **kw: Any) -> Report:
        detector = factory()
        assert detector.name == "tiny-test"
        self.calls.append((name, dict(kw.get("options") or {}), table, detector.params.steps))
        return fake_report()


def test_run_plan_runs_studies_on_their_datasets(
    tmp_path: Path, realgen: Path, mini: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "norm-cache"
    plan_path = studies_plan(tmp_path / "p", mini=str(mini), cache=str(cache))
    rec = TableRecorder()
    monkeypatch.setattr(protocols, "run_protocol", rec)
    out = tmp_path / "runs"
    dirs = run_plan(plan_path, {"realgen": realgen}, out, progress=False)
    assert dirs == [
        out / "alpha" / "realgen-loo",
        out / "alpha" / "zoo-to-realgen",
        out / "beta" / "realgen-loo",
        out / "beta" / "mini-all",
    ]
    assert [c[0] for c in rec.calls] == ["leave-one-out", "cross-dataset", "leave-one-out", "all"]
    loo_opts, loo_table = rec.calls[0][1], rec.calls[0][2]
    assert loo_opts["group"] == "generator" and set(loo_table[GENERATOR]) == {"x", "y"}
    # the study's normalisation applied: paths are normalised copies in the study's cache
    assert SOURCE_PATH in loo_table and all(str(cache) in p for p in loo_table["path"])
    zoo_opts, zoo_table = rec.calls[1][1], rec.calls[1][2]
    assert set(zoo_table[GENERATOR]) == {"a", "b"}  # trained on mini ...
    assert set(zoo_opts["test_table"][GENERATOR]) == {"x", "y"}  # ... tested on realgen
    assert SOURCE_PATH not in zoo_table  # no normalisation outside the study that sets it
    assert set(rec.calls[3][2][GENERATOR]) == {"a", "b"}
    # steps: alpha's set (5), alpha's per_study in zoo-to-realgen only (7), beta's recipe (40)
    assert [c[3] for c in rec.calls] == [5, 7, 40, 40]

    info = json.loads((out / "alpha" / "realgen-loo" / "run.json").read_text())
    assert (info["study"], info["protocol"]) == ("realgen-loo", "leave-one-out")
    assert (info["dataset"], info["data"]) == ("realgen", f".../{realgen.name}")
    assert info["test_dataset"] is None and info["test_data"] is None
    ov = info["overrides"]
    assert ov["data.root"] == str(realgen.resolve()) and ov["data.normalize.crop"] == 16
    assert ov["eval.group"] == "generator" and ov["detector.params.steps"] == 5
    assert f"--data realgen=.../{realgen.name}" in info["command"]
    zoo = json.loads((out / "alpha" / "zoo-to-realgen" / "run.json").read_text())
    assert (zoo["dataset"], zoo["test_dataset"]) == ("mini", "realgen")
    assert zoo["test_data"] == f".../{realgen.name}" and zoo["data"] == f".../{mini.name}"
    assert zoo["overrides"]["eval.test_data"] == str(realgen.resolve())
    assert zoo["overrides"]["data.root"] == str(mini.resolve())
    assert "eval.group" not in zoo["overrides"]  # the other study's set stays there
    assert zoo["overrides"]["detector.params.steps"] == 7  # the merged per_study override
    saved = json.loads((out / "plan.json").read_text())
    assert saved["protocols"][0]["title"] == "Leave one out, normalised"


def test_dataset_errors_come_before_any_run(
    tmp_path: Path, mini: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rec = TableRecorder()
    monkeypatch.setattr(protocols, "run_protocol", rec)
    plan_path = studies_plan(tmp_path / "p", mini=str(mini))
    with pytest.raises(ConfigError, match="add --data realgen=PATH"):
        run_plan(plan_path, None, tmp_path / "runs", progress=False)
    # --only beta still needs realgen; --only naming a recipe on mini alone would not
    with pytest.raises(ConfigError, match="realgen"):
        run_plan(plan_path, {}, tmp_path / "runs", only=["beta"], progress=False)
    assert not (tmp_path / "runs").exists() and rec.calls == []
