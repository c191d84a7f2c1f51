"""Every YAML preset in configs/ loads, its detector params validate, and the results plans apply."""

from __future__ import annotations

from pathlib import Path

import pytest

from fakescope.config import load_config
from fakescope.detectors import DETECTORS
from fakescope.eval.protocols import PROTOCOLS
from fakescope.eval.results import load_plan, run_overrides

CONFIG_DIR = Path(__file__).resolve().parents[1] / "configs"
#: Results plans (fakescope results run PLAN) are not experiment configs.
PLANS = sorted(CONFIG_DIR.glob("results*.yaml"))
CONFIGS = sorted(set(CONFIG_DIR.glob("*.yaml")) - set(PLANS))
#: The reference recipes of docs/systems.md; each must be in every results plan.
REFERENCE = {
    "cnndetection",
    "univfd",
    "univfd_knn",
    "npr",
    "level1_resnet18",
    "dmyt",
    "triplet_svm",
    "s2b_ae_rf",
    "hierarchy",
    "flat_attribution",
}


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


@pytest.mark.parametrize("path", PLANS, ids=[p.stem for p in PLANS])
def test_results_plan_applies_to_every_recipe(path: Path, tmp_path: Path) -> None:
    plan = load_plan(path)
    assert {r.config.stem for r in plan.recipes.values()} >= REFERENCE
    for recipe, protocol in plan.runs():
        assert protocol in PROTOCOLS, f"{recipe}: unknown protocol {protocol}"
        overrides = run_overrides(plan, recipe, protocol, tmp_path, tmp_path / recipe / protocol)
        cfg = load_config(plan.recipes[recipe].config, overrides)  # every 'set' key exists
        assert cfg.eval.protocol == protocol and cfg.data.root == tmp_path
        DETECTORS.get(cfg.detector.name)(cfg.detector.params)
