"""The hierarchy's model-free math on hand-computable numbers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from fakescope.data.transforms import InputConfig
from fakescope.detectors.base import Prediction
from fakescope.detectors.hierarchy_tree import (
    ROUTE_COLUMNS,
    TreeProba,
    adapt_batch,
    group_families,
    level3_names,
    renormalise,
    resolve_families,
)
from fakescope.errors import ConfigError, DataError


def tree() -> TreeProba:
    """Three files: a clear fake of family b / generator b2, a clear real, and a failed file."""
    nan = np.nan
    return TreeProba(
        p_real=np.array([0.2, 0.9, nan], dtype=np.float32),
        families=["a", "b"],
        p_family=np.array([[0.25, 0.75], [0.6, 0.4], [nan, nan]]),
        generators={"a": ["a1"], "b": ["b1", "b2"]},
        p_generator={"a": np.ones((3, 1)), "b": np.array([[0.1, 0.9], [0.5, 0.5], [nan, nan]])},
        errors=["", "", "cannot decode x.png"],
    )


def test_renormalise_drops_the_empty_real_class() -> None:
    pred = Prediction(
        np.array([[0.2, 0.2, 0.6], [0.0, 0.0, 0.0], [np.nan] * 3], dtype=np.float32),
        ["", "", "bad"],
        ["real", "x", "y"],
    )
    out = renormalise(pred, ["x", "y"])
    np.testing.assert_allclose(out[0], [0.25, 0.75])
    np.testing.assert_allclose(out[1], [0.5, 0.5])  # no mass at all: uniform
    assert np.isnan(out[2]).all()


def test_path_proba_is_the_product_along_the_tree() -> None:
    proba = tree().path_proba(["real", "a1", "b1", "b2"])
    np.testing.assert_allclose(proba[0], [0.2, 0.8 * 0.25, 0.8 * 0.75 * 0.1, 0.8 * 0.75 * 0.9])
    np.testing.assert_allclose(proba[:2].sum(axis=1), 1.0, atol=1e-6)
    assert proba[0, 0] == np.float32(0.2)  # P(real) is level 1's, exactly
    assert np.isnan(proba[2]).all()


def test_route_is_the_greedy_argmax() -> None:
    route = tree().route()
    assert tuple(route.columns) == ROUTE_COLUMNS
    first, second, failed = (route.iloc[i] for i in range(3))
    assert bool(first["is_fake"]) and first["family"] == "b" and first["generator"] == "b2"
    assert first["predicted"] == "b2"
    assert first["path_proba"] == pytest.approx(0.8 * 0.75 * 0.9, rel=1e-6)
    # routed to real: the branch below "fake" is still reported, the path ends at real
    assert not bool(second["is_fake"]) and second["family"] == "a" and second["generator"] == "a1"
    assert second["predicted"] == "real" and second["path_proba"] == pytest.approx(0.9)
    assert second["p_generator"] == 1.0  # one-generator family
    assert pd.isna(failed["is_fake"]) and pd.isna(failed["predicted"])
    assert np.isnan(failed["path_proba"]) and failed["error"] == "cannot decode x.png"


def test_families_from_the_column_or_a_map() -> None:
    fakes = pd.DataFrame({"generator": ["g1", "g2", "g2", "d1"], "family": ["gan"] * 3 + ["dm"]})
    assert resolve_families(fakes, None) == {"g1": "gan", "g2": "gan", "d1": "dm"}
    mapped = resolve_families(fakes, {"G1": "x", "g2": "x", "d1": "y", "extra": "z"})
    assert mapped == {"g1": "x", "g2": "x", "d1": "y"}  # case-insensitive; extras ignored
    assert group_families(mapped) == {"x": ["g1", "g2"], "y": ["d1"]}
    with pytest.raises(ConfigError, match=r"no family for generator\(s\) \['d1'\]; add them"):
        resolve_families(fakes, {"g1": "x", "g2": "x"})
    with pytest.raises(DataError, match="several families"):
        resolve_families(fakes.assign(family=["gan", "gan", "dm", "dm"]), None)
    with pytest.raises(DataError, match=r"\['d1'\] have no family"):
        resolve_families(fakes.assign(family=["gan", "gan", "gan", ""]), None)
    with pytest.raises(ConfigError, match="not allowed"):
        resolve_families(fakes, {"g1": "real", "g2": "x", "d1": "y"})


def test_level3_names_are_unique_folder_names() -> None:
    names = level3_names({"a/b": ["1", "2"], "a b": ["3", "4"], "solo": ["5"]})
    assert names == {"a/b": "level3-a_b", "a b": "level3-a_b_"}


def test_adapt_batch_converts_normalisation_and_size() -> None:
    src = InputConfig(size=8, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
    dst = InputConfig(size=4, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))
    x = torch.zeros(2, 3, 8, 8)  # pixel value 0.5 under src
    out = adapt_batch(x, src, dst)
    assert out.shape == (2, 3, 4, 4)
    torch.testing.assert_close(out, torch.full_like(out, 0.5))
    assert adapt_batch(x, src, src) is x
