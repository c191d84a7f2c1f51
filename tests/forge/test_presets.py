"""Every preset names registered generators whose parameters validate at the preset's resolution."""

from __future__ import annotations

from pathlib import Path

import pytest

from fakescope.forge.generators.catalog import GENERATORS
from fakescope.forge.presets import PRESETS
from tests.conftest import SHARED_DATA


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_preset_generators_build(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    preset = PRESETS[name]
    if any("weights" in GENERATORS.get(g).Params.model_fields for g in preset.generators):
        weights = Path(SHARED_DATA) / "tiny-autoencoders.zip"
        if not weights.is_file():
            pytest.skip(f"the {name} preset's decoders need {weights} (absent)")
        monkeypatch.setenv("FAKESCOPE_WEIGHTS", str(weights))
    for generator in preset.generators:
        built = GENERATORS.get(generator)(
            preset.params_for(generator), image_size=preset.resolution
        )
        assert built.params.steps == preset.steps_for(generator)
        assert built.family and built.image_size == preset.resolution


def test_smoke_trains_fewer_steps_than_mini() -> None:
    for generator in PRESETS["smoke"].generators:
        assert PRESETS["smoke"].steps_for(generator) < PRESETS["mini"].steps_for(generator)
