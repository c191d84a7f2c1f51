"""Generator -> family maps: both YAML shapes, unknown generators, one-line errors."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from fakescope.data.families import apply_families, load_family_map, parse_family_map
from fakescope.errors import DataError


def test_both_yaml_shapes_give_the_same_map(tmp_path: Path) -> None:
    flat = tmp_path / "flat.yaml"
    flat.write_text("progan: gan\nstylegan: gan\nsd14: diffusion\n")
    grouped = tmp_path / "grouped.yaml"
    grouped.write_text("gan: [progan, stylegan]\ndiffusion:\n  - sd14\n")
    expected = {"progan": "gan", "stylegan": "gan", "sd14": "diffusion"}
    assert load_family_map(flat) == expected
    assert load_family_map(grouped) == expected


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("gan: [progan\n", "not valid YAML"),
        ("- progan\n- sd14\n", "must be a mapping"),
        ("progan: 3\n", "text names"),
        ("gan: [progan]\ndiffusion: [progan]\n", "two families"),
    ],
)
def test_malformed_maps_are_one_line_errors(tmp_path: Path, text: str, match: str) -> None:
    path = tmp_path / "f.yaml"
    path.write_text(text)
    with pytest.raises(DataError, match=match) as info:
        load_family_map(path)
    assert "\n" not in str(info.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        load_family_map(tmp_path / "nope.yaml")


def test_apply_families_unknown_and_real() -> None:
    table = pd.DataFrame(
        {
            "path": ["a", "b", "c", "d"],
            "label": [1, 1, 0, 1],
            "generator": ["ProGAN", "dalle", "ProGAN", ""],
            "family": ["x", "x", "x", "x"],
        }
    )
    out = apply_families(table, parse_family_map({"progan": "gan"}))
    assert out["family"].tolist() == ["gan", "unknown", "real", "unknown"]
    assert table["family"].tolist() == ["x", "x", "x", "x"]  # input untouched
