"""``build_benchmark``: layout, manifest rules, audit, indexing, determinism, bad input."""

from __future__ import annotations

import json
import shutil
import stat
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from fakescope.data.index import index_dataset
from fakescope.errors import DataError, FakescopeError
from fakescope.fileio import default_dir_mode, default_file_mode
from fakescope.forge.build import build_benchmark
from fakescope.forge.manifest import COLUMNS
from tests.forge.conftest import benchmark_files
from tests.forge.tiny_zoo import tiny_preset, tiny_source

GENS = ("tiny_manip", "tiny_sampler")


def test_layout_counts_and_outputs(built: Path) -> None:
    for gen in GENS:
        for split, n in (("train", 4), ("val", 2), ("test", 4)):
            for label in ("0_real", "1_fake"):
                files = sorted((built / gen / split / label).iterdir())
                assert [f.name for f in files] == [f"{i:05d}.jpg" for i in range(n)]
    info = json.loads((built / "benchmark.json").read_text())
    assert info["format"]["description"] == "JPEG q=75 4:2:0 RGB 16x16"
    assert info["source"]["split_mode"] == "held-out" and info["seed"] == 0
    assert set(info["generators"]) == set(GENS)
    for gen in info["generators"].values():
        assert gen["steps"] == 6 and gen["train_seconds"] > 0
        assert gen["audit"]["qtables_identical"] and gen["audit"]["sizes_modes_identical"]
        assert 0.0 <= gen["audit"]["file_size_auc"] <= 1.0
    page = (built / "summary.html").read_text()
    assert page.count("data:image/png;base64,") == 3 and "http" not in page  # self-contained
    assert sorted(p.name for p in (built / "grids").iterdir()) == [
        "real.png",
        *[f"{g}.png" for g in GENS],
    ]


def test_manifest_columns_and_split_rules(built: Path) -> None:
    m = pd.read_parquet(built / "manifest.parquet")
    assert tuple(m.columns) == COLUMNS and len(m) == 2 * 2 * (4 + 2 + 4)
    assert list(m["path"]) == sorted(m["path"]) and all((built / p).is_file() for p in m["path"])
    reals = m[m.label == 0]
    assert reals["source"].is_unique  # reals disjoint across generators and splits
    assert set(reals["family"]) == {"real"} and set(m["seed"]) == {0}
    fakes = m[m.label == 1]
    assert set(fakes[fakes.generator == "tiny_sampler"]["source"]) == {""}
    manip = fakes[fakes.generator == "tiny_manip"]
    assert set(manip["family"]) == {"face_swap"} and (manip["source"] != "").all()
    assert not set(manip["source"]) & set(reals["source"])  # sources are not also reals
    assert (manip["donor"] != manip["source"]).all()
    plan = json.loads((built / ".work" / "plan.json").read_text())
    for split in ("train", "val", "test"):  # each fake's source comes from its own split
        part = plan["generators"]["tiny_manip"][split]
        assert sorted(manip[manip.split == split]["source"]) == sorted(part["sources"])
    test_sources = set(reals[reals.split == "test"]["source"]) | set(
        manip[manip.split == "test"]["source"]
    )
    assert not test_sources & set(plan["train_images"])  # generators never saw a test image


def test_source_splits_are_kept_and_corrupt_files_counted(tiny_zoo: None, tmp_path: Path) -> None:
    imgs = tiny_source(tmp_path / "imgs", n=60)
    archive = tmp_path / "cifar-like.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for i, f in enumerate(sorted(imgs.iterdir())):
            zf.write(f, f"{'test' if i % 3 == 0 else 'train'}/{f.name}")
        zf.writestr("train/broken.jpg", b"\xff\xd8 not really a jpeg")
    preset = tiny_preset(max_train_images=100)  # every train image gets checked
    root = build_benchmark(archive, tmp_path / "out", preset, progress=False)
    m = pd.read_parquet(root / "manifest.parquet")
    named = m[m.source != ""]  # reals and manipulation fakes
    folder = named.source.str.split("/").str[0]
    assert (folder == named.split.where(named.split == "test", "train")).all()
    assert (named[named.split == "test"].source.str.startswith("test/")).sum() == 4 + 4 + 4
    info = json.loads((root / "benchmark.json").read_text())
    assert info["source"]["split_mode"] == "source"
    assert info["source"]["corrupt_files"] == ["train/broken.jpg"]
    assert info["source"]["corrupt_skipped"] == 1


def test_index_dataset_reads_a_built_benchmark(built: Path) -> None:
    m = pd.read_parquet(built / "manifest.parquet")
    table = index_dataset(built)
    assert len(table) == len(m)
    got = table.groupby(["generator", "split", "label"]).size()
    assert got.equals(m.groupby(["generator", "split", "label"]).size())
    full = index_dataset(built / "manifest.parquet")
    assert set(full[full.label == 1]["family"]) == {"face_swap", "vae"}
    assert {"source", "donor", "seed"} <= set(full.columns)


def test_png_sources_give_png_benchmarks(tiny_zoo: None, tmp_path: Path) -> None:
    src = tiny_source(tmp_path / "png", fmt="PNG")
    root = build_benchmark(src, tmp_path / "out", tiny_preset(), progress=False)
    m = pd.read_parquet(root / "manifest.parquet")
    assert m["path"].str.endswith(".png").all()
    assert json.loads((root / "benchmark.json").read_text())["format"]["format"] == "PNG"


def test_same_seed_gives_byte_identical_builds(built: Path, source: Path, tmp_path: Path) -> None:
    again = build_benchmark(source, tmp_path / "again", tiny_preset(), progress=False)
    first, second = benchmark_files(built), benchmark_files(again)
    assert "manifest.parquet" in first and len(first) > 40
    assert first == second
    other = build_benchmark(source, tmp_path / "seed1", tiny_preset(), seed=1, progress=False)
    assert benchmark_files(other)["manifest.parquet"] != first["manifest.parquet"]


def test_bad_input_is_one_line(tiny_zoo: None, source: Path, tmp_path: Path) -> None:
    with pytest.raises(FakescopeError, match="unknown generator 'nope'"):
        build_benchmark(source, tmp_path / "o1", tiny_preset(), generators=["nope"], progress=False)
    small = tiny_source(tmp_path / "small", n=10)
    with pytest.raises(DataError, match=r"30 needed, 10 found") as info:
        build_benchmark(small, tmp_path / "o2", tiny_preset(), progress=False)
    assert "\n" not in str(info.value) and not (tmp_path / "o2").exists()  # nothing written
    with pytest.raises(FakescopeError, match="inside the source folder"):
        build_benchmark(source, source / "bench", tiny_preset(), progress=False)


def test_quality_step_measures_frechet_distances(built: Path, tmp_path: Path) -> None:
    from fakescope.forge.quality_step import quality_for
    from fakescope.forge.workspace import Workspace

    root = tmp_path / "copy"
    shutil.copytree(built, root)
    frame = pd.read_parquet(root / "manifest.parquet")
    ws = Workspace(root)
    preset = tiny_preset(fd_images=8)
    q = quality_for(ws, frame, "tiny_sampler", preset, 0, "cpu", False)
    assert q is not None and q["n"] == 2  # 4 test reals -> two disjoint sets of 2
    assert q["fd"] >= 0 and q["fd_real_vs_real"] >= 0 and q["fd"] != q["fd_real_vs_real"]
    assert json.loads((ws.gen_dir("tiny_sampler") / "quality.json").read_text()) == q
    assert quality_for(ws, frame, "tiny_sampler", tiny_preset(), 0, "cpu", False) is None


def test_every_output_file_has_the_umask_mode_and_no_temp_file_is_left(built: Path) -> None:
    file_mode, dir_mode = default_file_mode(), default_dir_mode()
    files = [p for p in built.rglob("*") if p.is_file()]
    assert any(p.suffix == ".jpg" for p in files) and (built / "manifest.parquet") in files
    assert (built / ".work" / "plan.json") in files and (built / "summary.html") in files
    wrong = [
        f"{p.relative_to(built)}: {oct(stat.S_IMODE(p.stat().st_mode))}"
        for p in [*files, *(d for d in built.rglob("*") if d.is_dir())]
        if stat.S_IMODE(p.stat().st_mode) != (file_mode if p.is_file() else dir_mode)
    ]
    assert not wrong, f"not the umask's normal mode: {wrong}"
    assert not [p.name for p in files if ".tmp" in p.name]
