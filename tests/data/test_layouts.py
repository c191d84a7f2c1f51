"""Every folder layout: indexed counts per split/generator/label, detection and errors."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from fakescope.config import SplitConfig
from fakescope.data.index import detect_layout, index_dataset
from fakescope.data.layouts.catalog import LAYOUTS
from fakescope.data.layouts.classes import class_mapping
from fakescope.data.schema import COLUMNS, encode_targets
from fakescope.errors import DataError, FakescopeError
from tests.data.builders import (
    Counts,
    build_binary,
    build_binary_split_first,
    build_classes,
    build_genimage,
    build_manifest,
    build_single_generator,
    build_tasks,
    counts,
    fill,
)

CASES: list[tuple[str, Callable[[Path], Counts]]] = [
    ("binary", build_binary),
    ("binary", build_binary_split_first),
    ("classes", build_classes),
    ("tasks", build_tasks),
    ("genimage", build_genimage),
    ("manifest", build_manifest),
]


def test_registry_holds_every_layout() -> None:
    assert LAYOUTS.names() == ["binary", "classes", "genimage", "manifest", "tasks"]


@pytest.mark.parametrize(("name", "build"), CASES, ids=[b.__name__ for _, b in CASES])
def test_layout_counts_and_detection(
    tmp_path: Path, name: str, build: Callable[[Path], Counts]
) -> None:
    root = tmp_path / "ds"
    expected = build(root)
    assert detect_layout(root) == name
    table = index_dataset(root)
    assert counts(table) == expected
    assert list(table.columns[: len(COLUMNS)]) == list(COLUMNS)
    assert table["path"].tolist() == sorted(table["path"])
    assert all(Path(p).is_absolute() for p in table["path"])
    assert set(table["split"]) <= {"train", "val", "test"}
    assert (table.loc[table["label"] == 0, "family"] == "real").all()
    assert (table.loc[table["label"] == 1, "family"] == "unknown").all()
    pd.testing.assert_frame_equal(table, index_dataset(root, name))


def test_binary_sub_folders_and_corrupt_files(tmp_path: Path) -> None:
    build_binary(tmp_path)
    table = index_dataset(tmp_path)
    progan = table[table["generator"] == "progan"]
    assert sorted(set(progan["sub"])) == ["car", "cat"]
    assert (table.loc[table["generator"] == "gaugan", "sub"] == "").all()
    names = {Path(p).name for p in table["path"]}
    assert "broken.JPG" in names  # listed even though it cannot be decoded
    assert not names & {"notes.txt", ".DS_Store", "README.md"}
    assert set(table["cls"]) == {"real", "fake"}


def test_binary_root_holding_label_folders_is_one_generator(tmp_path: Path) -> None:
    root = tmp_path / "stylegan"
    build_single_generator(root, n=10)
    assert detect_layout(root) == "binary"
    table = index_dataset(root, split=SplitConfig(val=0.2, test=0.3))
    assert set(table["generator"]) == {"stylegan"}
    assert "sub" not in table.columns
    got = counts(table)
    for label in (0, 1):
        assert (got[("train", "stylegan", label)], got[("val", "stylegan", label)]) == (5, 2)
        assert got[("test", "stylegan", label)] == 3


def test_classes_mapping_is_sorted_with_real_first(tmp_path: Path) -> None:
    build_classes(tmp_path)
    table = index_dataset(tmp_path)
    assert set(table["cls"]) == {"real", "Deepfakes", "NeuralTextures"}
    mapping = class_mapping(table["cls"])
    assert mapping == {"real": 0, "Deepfakes": 1, "NeuralTextures": 2}
    y, classes = encode_targets(table, "cls")
    assert classes == list(mapping)
    assert y.tolist() == [mapping[c] for c in table["cls"]]


def test_manifest_file_resolves_relative_paths_and_keeps_columns(tmp_path: Path) -> None:
    expected = build_manifest(tmp_path)
    table = index_dataset(tmp_path / "manifest.csv")
    assert counts(table) == expected
    assert (table["source"] == "web").all()
    assert all(Path(p).is_file() for p in table["path"])
    assert str(tmp_path.resolve()) in table["path"].iloc[0]


def test_parquet_manifest_without_split_gets_generated_split(tmp_path: Path) -> None:
    fill(tmp_path / "a", 10, fake=False)
    fill(tmp_path / "b", 10, fake=True)
    paths = [f"a/img{i:03d}.png" for i in range(10)] + [f"b/img{i:03d}.png" for i in range(10)]
    pd.DataFrame({"path": paths, "label": [0] * 10 + [1] * 10, "generator": "dalle"}).to_parquet(
        tmp_path / "list.parquet"
    )
    table = index_dataset(tmp_path / "list.parquet", split=SplitConfig(val=0.1, test=0.2))
    got = counts(table)
    for label in (0, 1):
        assert [got[(s, "dalle", label)] for s in ("train", "val", "test")] == [7, 1, 2]


def test_manifest_errors(tmp_path: Path) -> None:
    bad = tmp_path / "nolabel.csv"
    pd.DataFrame({"path": ["x.png"]}).to_csv(bad, index=False)
    with pytest.raises(DataError, match="label"):
        index_dataset(bad)
    gone = tmp_path / "gone.csv"
    pd.DataFrame({"path": ["missing/x.png"], "label": [1]}).to_csv(gone, index=False)
    with pytest.raises(DataError, match="none of the 1 paths"):
        index_dataset(gone)
    fill(tmp_path / "i", 1, fake=False)
    odd = tmp_path / "odd.csv"
    pd.DataFrame({"path": ["i/img000.png"], "label": [0], "split": ["holdout"]}).to_csv(
        odd, index=False
    )
    with pytest.raises(DataError, match="unknown split 'holdout'"):
        index_dataset(odd)


def test_ambiguous_layout_names_the_candidates(tmp_path: Path) -> None:
    fill(tmp_path / "gaugan" / "0_real", 1, fake=False)
    fill(tmp_path / "Deepfakes" / "train" / "fake", 1, fake=True)
    with pytest.raises(DataError, match=r"binary, tasks.*--layout") as info:
        detect_layout(tmp_path)
    assert "\n" not in str(info.value)
    table = index_dataset(tmp_path, "tasks")
    assert counts(table) == {("train", "Deepfakes", 1): 1}


def test_empty_folder_and_missing_root(tmp_path: Path) -> None:
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    (tmp_path / "empty" / "sub" / "a.txt").write_text("x")
    with pytest.raises(DataError, match="no image files"):
        index_dataset(tmp_path / "empty")
    (tmp_path / "hollow" / "gen" / "0_real").mkdir(parents=True)
    with pytest.raises(DataError, match="no image files"):
        index_dataset(tmp_path / "hollow")
    with pytest.raises(DataError, match="does not exist"):
        index_dataset(tmp_path / "nowhere")


def test_unrecognised_layout_and_unknown_layout_name(tmp_path: Path) -> None:
    fill(tmp_path / "photos", 2, fake=False)
    with pytest.raises(DataError, match="cannot recognise the layout"):
        detect_layout(tmp_path)
    with pytest.raises(FakescopeError, match="unknown layout 'folders'; choose one of: binary"):
        index_dataset(tmp_path, "folders")


def test_generated_split_is_deterministic_and_order_independent(tmp_path: Path) -> None:
    root = tmp_path / "a" / "gen"
    build_single_generator(root, n=20)
    cfg = SplitConfig(val=0.25, test=0.25, seed=3)
    first = index_dataset(root, split=cfg)
    pd.testing.assert_frame_equal(first, index_dataset(root, split=cfg))
    moved = tmp_path / "b" / "gen"
    shutil.copytree(root, moved)
    second = index_dataset(moved, split=cfg)
    assert first["split"].tolist() == second["split"].tolist()  # same relative files, same split
    other = index_dataset(root, split=SplitConfig(val=0.25, test=0.25, seed=4))
    assert other["split"].tolist() != first["split"].tolist()
    assert counts(other) == counts(first)  # stratified: same counts whatever the seed


def test_val_is_carved_from_train_when_missing(tmp_path: Path) -> None:
    for split, n in (("train", 10), ("test", 3)):
        fill(tmp_path / "gen" / split / "0_real", n, fake=False)
        fill(tmp_path / "gen" / split / "1_fake", n, fake=True)
    table = index_dataset(tmp_path, split=SplitConfig(val=0.2, test=0.5))
    got = counts(table)
    for label in (0, 1):
        assert [got[(s, "gen", label)] for s in ("train", "val", "test")] == [8, 2, 3]


def test_family_map_from_yaml_and_dict(tmp_path: Path) -> None:
    build_binary(tmp_path / "ds")
    fam = tmp_path / "families.yaml"
    fam.write_text("gan: [GauGAN]\n")  # family -> generators, matched case-insensitively
    table = index_dataset(tmp_path / "ds", family_map=fam)
    fakes = table[table["label"] == 1]
    assert set(fakes.loc[fakes["generator"] == "gaugan", "family"]) == {"gan"}
    assert set(fakes.loc[fakes["generator"] == "progan", "family"]) == {"unknown"}
    assert (table.loc[table["label"] == 0, "family"] == "real").all()
    table = index_dataset(tmp_path / "ds", family_map={"progan": "gan", "gaugan": "gan"})
    assert set(table.loc[table["label"] == 1, "family"]) == {"gan"}
