"""Every YAML preset in configs/ loads, its detector params validate, and the results plans apply."""

from __future__ import annotations

from pathlib import Path

import pytest

from fakescope.config import load_config
from fakescope.detectors.catalog import DETECTORS
from fakescope.eval.catalog import PROTOCOLS
from fakescope.eval.results_plan import load_plan, run_overrides

CONFIG_DIR = Path(__file__).resolve().parents[1] / "configs"
#: Results plans (fakescope results run PLAN) are not experiment configs.
PLANS = sorted(CONFIG_DIR.glob("results*.yaml"))
CONFIGS = sorted(set(CONFIG_DIR.glob("*.yaml")) - set(PLANS))
#: The binary reference recipes of docs/systems.md; each must be in every results plan.
BINARY_REFERENCE = {
    "cnndetection",
    "univfd",
    "univfd_knn",
    "npr",
    "level1_resnet18",
    "dmyt",
    "triplet_svm",
    "s2b_ae_rf",
}
#: The attribution reference recipes; each must be in every plan with an attribution study.
ATTRIBUTION_REFERENCE = {"hierarchy", "flat_attribution"}
REFERENCE = BINARY_REFERENCE | ATTRIBUTION_REFERENCE


def test_there_are_presets() -> None:
    assert {p.stem for p in CONFIGS} >= {"cnn", "probe", *REFERENCE}
    assert {p.stem for p in PLANS} >= {"results-mini"}


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_preset_is_valid(path: Path) -> None:
    cfg = load_config(path)
    detector = DETECTORS.get(cfg.detector.name)(cfg.detector.params)
    assert detector.params.model_dump()  # validated by the detector's own Params
    assert cfg.eval.protocol in PROTOCOLS
    assert cfg.data.root is None  # presets name no data: --data gives it


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_preset_header_names_its_command(path: Path) -> None:
    header = [line for line in path.read_text().splitlines() if line.startswith("#")]
    commands = [line for line in header if f"--config configs/{path.name} --data PATH" in line]
    assert commands, f"{path.name}: the header must show the command that runs it"
    assert all("fakescope " in line for line in commands)


def _value_at(cfg: object, dotted: str) -> object:
    """The value of config ``cfg`` at a dotted key (attributes, then mapping keys)."""
    value = cfg
    for part in dotted.split("."):
        value = value[part] if isinstance(value, dict) else getattr(value, part)
    return value


@pytest.mark.parametrize("path", PLANS, ids=[p.stem for p in PLANS])
def test_results_plan_applies_to_every_recipe(path: Path, tmp_path: Path) -> None:
    plan = load_plan(path)
    stems = {r.config.stem for r in plan.recipes.values()}
    assert stems >= BINARY_REFERENCE
    if any(s.protocol == "attribution" for _, s in plan.study_runs()):
        assert stems >= ATTRIBUTION_REFERENCE
    for recipe, study in plan.study_runs():
        where = f"{recipe} x {study.name}"
        assert study.protocol in PROTOCOLS, f"{where}: unknown protocol {study.protocol}"
        data = tmp_path / study.data
        test = tmp_path / study.test_data if study.test_data else None
        run_dir = tmp_path / recipe / study.name
        overrides = run_overrides(plan, recipe, study, data, run_dir, test_data=test)
        cfg = load_config(plan.recipes[recipe].config, overrides)  # every override key exists
        assert cfg.eval.protocol == study.protocol and cfg.data.root == data, where
        assert cfg.eval.test_data == test, where
        for key, value in plan.recipes[recipe].per_study.get(study.name, {}).items():
            if not isinstance(value, dict | list):
                assert _value_at(cfg, key) == value, f"{where}: {key} not applied"
        DETECTORS.get(cfg.detector.name)(cfg.detector.params)
