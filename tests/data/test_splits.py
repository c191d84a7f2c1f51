"""Generated splits: stratified counts, determinism, carving val, invalid fractions."""

from __future__ import annotations

import pandas as pd
import pytest

from fakescope.config import SplitConfig
from fakescope.data.splits import assign_splits, normalize_splits
from fakescope.errors import ConfigError, DataError


def _table(n: int = 30) -> pd.DataFrame:
    rows = [
        (f"/d/{g}/{lab}/{i}.png", lab, g) for g in ("a", "b") for lab in (0, 1) for i in range(n)
    ]
    return pd.DataFrame(rows, columns=["path", "label", "generator"])


def test_stratified_counts_per_generator_and_label() -> None:
    out = assign_splits(_table(), SplitConfig(val=0.1, test=0.2, seed=0))
    sizes = out.groupby(["generator", "label", "split"]).size()
    for g in ("a", "b"):
        for lab in (0, 1):
            assert (sizes[(g, lab, "train")], sizes[(g, lab, "val")], sizes[(g, lab, "test")]) == (
                21,
                3,
                6,
            )


def test_same_seed_same_split_whatever_the_row_order() -> None:
    table = _table()
    cfg = SplitConfig(val=0.1, test=0.2, seed=7)
    a = assign_splits(table, cfg).set_index("path")["split"]
    shuffled = table.sample(frac=1.0, random_state=1)
    b = assign_splits(shuffled, cfg).set_index("path")["split"]
    assert a.sort_index().tolist() == b.sort_index().tolist()
    c = assign_splits(table, SplitConfig(val=0.1, test=0.2, seed=8)).set_index("path")["split"]
    assert c.sort_index().tolist() != a.sort_index().tolist()


def test_root_makes_the_split_location_independent() -> None:
    table = _table()
    moved = table.assign(path=table["path"].str.replace("/d/", "/elsewhere/deep/", regex=False))
    a = assign_splits(table, root="/d")["split"].tolist()
    b = assign_splits(moved, root="/elsewhere/deep")["split"].tolist()
    assert a == b


def test_given_splits_are_kept_and_val_carved_from_train() -> None:
    table = _table(10).assign(split="train")
    table.loc[table.index % 5 == 0, "split"] = "test"
    out = assign_splits(table, SplitConfig(val=0.25, test=0.2))
    assert (out.loc[table["split"] == "test", "split"] == "test").all()
    assert (
        out.groupby(["generator", "label"])["split"].apply(lambda s: (s == "val").sum()).eq(2).all()
    )


def test_a_table_with_val_is_left_alone() -> None:
    table = _table(4).assign(split=["train", "valid", "test", "train"] * 4)
    out = assign_splits(table)
    assert out["split"].tolist() == ["train", "val", "test", "train"] * 4


def test_invalid_fractions_and_names() -> None:
    with pytest.raises(ConfigError, match="sum < 1"):
        assign_splits(_table(), SplitConfig(val=0.5, test=0.5))
    with pytest.raises(DataError, match="unknown split 'dev'"):
        normalize_splits(pd.Series(["train", "dev"]))
    assert normalize_splits(pd.Series(["Valid", None, "TEST"])).tolist() == ["val", "", "test"]
