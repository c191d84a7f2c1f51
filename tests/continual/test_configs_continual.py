"""The continual configs name real methods and the zoo's generators / families, in a sensible order."""

from __future__ import annotations

from pathlib import Path

import pytest

from fakescope.config import load_config
from fakescope.continual import STRATEGIES, create_strategy
from fakescope.forge.generators import GENERATORS
from fakescope.forge.presets import FACE, NON_FACE

CONFIGS = sorted((Path(__file__).resolve().parents[2] / "configs").glob("continual-*.yaml"))


def test_the_four_sequences_exist() -> None:
    assert {p.stem for p in CONFIGS} >= {
        "continual-easy",
        "continual-hard",
        "continual-long",
        "continual-fewshot",
    }


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_config_tasks_and_methods_exist(path: Path) -> None:
    cfg = load_config(path).continual
    zoo = set(NON_FACE) | set(FACE)
    families = {GENERATORS.get(g).family for g in zoo}
    assert len(cfg.tasks) >= 4 and len(set(cfg.tasks)) == len(cfg.tasks)
    for task in cfg.tasks:
        assert all(part in zoo | families for part in task.split("+")), task
    for method in cfg.methods:
        assert method in STRATEGIES
        create_strategy(method, {"size": cfg.memory} if method == "replay" else {})
