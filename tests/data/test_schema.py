"""The sample table: validation, defaults, one-line errors, target encoding with class 0 = real."""

from __future__ import annotations

import pandas as pd
import pytest

from fakescope.data.schema import (
    COLUMNS,
    Sample,
    empty_table,
    encode_targets,
    make_table,
    validate_table,
)
from fakescope.errors import DataError


def test_validate_fills_defaults_and_keeps_extras() -> None:
    raw = pd.DataFrame({"extra": ["x", "y"], "label": ["1", 0], "path": ["b.png", "a.png"]})
    out = validate_table(raw)
    assert list(out.columns) == [*COLUMNS, "extra"]
    assert out["label"].tolist() == [1, 0]
    assert out["label"].dtype == "int64"
    assert out["family"].tolist() == ["unknown", "real"]
    assert out["cls"].tolist() == ["fake", "real"]
    assert out["generator"].tolist() == ["", ""]
    assert out["extra"].tolist() == ["x", "y"]


def test_reals_always_have_family_real_and_cls_is_kept() -> None:
    raw = pd.DataFrame(
        {"path": ["a", "b"], "label": [0, 1], "family": ["gan", None], "cls": ["", "sd"]}
    )
    out = validate_table(raw)
    assert out["family"].tolist() == ["real", "unknown"]
    assert out["cls"].tolist() == ["real", "sd"]


@pytest.mark.parametrize(
    ("raw", "match"),
    [
        (pd.DataFrame({"label": [0]}), "lacks column"),
        (pd.DataFrame({"path": ["a"], "label": [2]}), "labels must be 0"),
        (pd.DataFrame({"path": ["a"], "label": ["fake"]}), "labels must be 0"),
    ],
)
def test_validation_errors_are_one_line(raw: pd.DataFrame, match: str) -> None:
    with pytest.raises(DataError, match=match) as info:
        validate_table(raw)
    assert "\n" not in str(info.value)


def test_sample_and_make_table() -> None:
    with pytest.raises(DataError, match="label must be 0"):
        Sample(path="a", label=3)
    table = make_table([Sample("a", 1, "sd", "diffusion", "test", "sd"), Sample("b", 0)])
    assert table["family"].tolist() == ["diffusion", "real"]
    assert table["split"].tolist() == ["test", "train"]
    empty = make_table([])
    assert list(empty.columns) == list(COLUMNS)
    assert len(empty) == 0
    assert empty_table()["label"].dtype == "int64"


def test_encode_targets_puts_real_first() -> None:
    table = validate_table(
        pd.DataFrame(
            {
                "path": list("abcd"),
                "label": [1, 0, 1, 1],
                "generator": ["sd", "sd", "biggan", "sd"],
                "family": ["diffusion", "", "gan", "diffusion"],
            }
        )
    )
    y, classes = encode_targets(table, "label")
    assert (y.tolist(), classes) == ([1, 0, 1, 1], ["real", "fake"])
    y, classes = encode_targets(table, "generator")
    assert classes == ["real", "biggan", "sd"]
    assert y.tolist() == [2, 0, 1, 2]
    y, classes = encode_targets(table, "family")
    assert classes == ["real", "diffusion", "gan"]
    assert y.tolist() == [1, 0, 2, 1]
    with pytest.raises(DataError, match="not among the detector's classes"):
        encode_targets(table, "generator", classes=["real", "sd"])
    with pytest.raises(DataError, match="unknown target"):
        encode_targets(table, "colour")
