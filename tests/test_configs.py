"""Every YAML preset in configs/ loads, and its detector params validate."""

from __future__ import annotations

from pathlib import Path

import pytest

from fakescope.config import load_config
from fakescope.detectors import DETECTORS
from fakescope.eval.protocols import PROTOCOLS

CONFIGS = sorted((Path(__file__).resolve().parents[1] / "configs").glob("*.yaml"))


def test_there_are_presets() -> None:
    assert {p.stem for p in CONFIGS} >= {"cnn", "probe"}


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_preset_is_valid(path: Path) -> None:
    cfg = load_config(path)
    detector = DETECTORS.get(cfg.detector.name)(cfg.detector.params)
    assert detector.params.model_dump()  # validated by the detector's own Params
    assert cfg.eval.protocol in PROTOCOLS
    assert cfg.data.root is None  # presets name no data: --data gives it
