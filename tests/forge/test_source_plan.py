"""Sources (folders, zips, splits, the faces crop) and the plan's allocation rules."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fakescope.errors import ConfigError, DataError
from fakescope.forge.plan import make_plan
from fakescope.forge.presets import PRESETS, SplitCounts, get_preset
from fakescope.forge.source import ImageSource, prepare
from tests.forge.tiny_zoo import tiny_preset, tiny_source


def test_faces_crop_is_the_central_60_percent() -> None:
    arr = np.zeros((250, 250, 3), dtype=np.uint8)
    arr[..., 0] = 200  # red border ...
    arr[50:200, 50:200] = (0, 180, 0)  # ... around the central 150 x 150 face box
    out = prepare(Image.fromarray(arr), PRESETS["faces"].resolution, PRESETS["faces"].crop)
    got = np.asarray(out)
    assert out.size == (128, 128)
    assert got[..., 0].max() <= 2 and got[..., 1].min() >= 175  # nothing of the border left
    wide = np.asarray(prepare(Image.fromarray(arr[:, :200]), 50))  # 200x250 -> centre square
    assert wide.shape == (50, 50, 3)


def test_zip_source_lists_splits_and_skips_hidden(tmp_path: Path) -> None:
    img = tiny_source(tmp_path / "imgs", n=1) / "img000.jpg"
    archive = tmp_path / "src.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for name in ("train/cat/b.jpg", "train/cat/a.jpg", "test/dog/c.jpg", "valid/d.jpg"):
            zf.write(img, name)
        zf.write(img, "__MACOSX/train/._a.jpg")
        zf.write(img, "train/.hidden.jpg")
        zf.writestr("notes.txt", "x")
    with ImageSource(archive) as src:
        assert src.names == ["test/dog/c.jpg", "train/cat/a.jpg", "train/cat/b.jpg", "valid/d.jpg"]
        assert [src.split_of(n) for n in src.names] == ["test", "train", "train", "val"]
        assert src.load("train/cat/a.jpg", 8) is not None


def test_missing_and_empty_sources_are_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        ImageSource(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no image files"):
        ImageSource(tmp_path / "empty")


def test_shared_reals_keep_one_split_per_image(tmp_path: Path) -> None:
    preset = tiny_preset(share_reals=True, counts=SplitCounts(train=6, val=3, test=5))
    kinds = {"a": "sampler", "b": "manipulation", "c": "manipulation"}
    with ImageSource(tiny_source(tmp_path, n=40)) as src:
        plan = make_plan(src, preset, kinds, seed=3)
    split_of: dict[str, str] = {}
    for splits in plan.generators.values():
        used: set[str] = set()
        for split, part in splits.items():
            names = part.reals + part.sources
            assert len(set(names)) == len(names) and not used & set(names)
            used |= set(names)
            for n in names:
                assert split_of.setdefault(n, split) == split  # same split for every generator
            if split != "train":  # generators never train on val or test images
                assert not set(names) & set(plan.train_images)
    reals = [set(plan.generators[g]["train"].reals) for g in kinds]
    assert reals[0] & (reals[1] | reals[2])  # shared: generators overlap


def test_disjoint_plan_and_too_few_images(tmp_path: Path) -> None:
    kinds = {"a": "sampler", "b": "manipulation"}
    with ImageSource(tiny_source(tmp_path / "src", n=60)) as src:
        plan = make_plan(src, tiny_preset(), kinds, seed=0)
        everything = [
            n for g in plan.generators.values() for p in g.values() for n in p.reals + p.sources
        ]
        assert len(everything) == len(set(everything)) == 3 * (4 + 2 + 4)
        test_names = {
            n for g in plan.generators.values() for n in g["test"].reals + g["test"].sources
        }
        assert not test_names & set(plan.train_images)
    with (
        ImageSource(tiny_source(tmp_path / "small", n=12)) as small,
        pytest.raises(DataError) as info,
    ):
        make_plan(small, tiny_preset(), kinds, seed=0)
    msg = str(info.value)
    assert "30 needed, 12 found" in msg and "test: 12 needed / 4 found" in msg and "\n" not in msg


def test_presets_and_overrides() -> None:
    assert set(PRESETS) == {"smoke", "mini", "cifar", "faces", "aligned"}
    aligned = PRESETS["aligned"]
    assert aligned.resolution == 256 and aligned.pairs and aligned.all_images
    assert aligned.history == "equalize" and aligned.prescale == 0.5
    assert get_preset("aligned", history="keep").prescale == 1.0
    for name in ("cifar", "faces"):
        c = PRESETS[name].counts
        assert (c.train, c.val, c.test) >= (2000, 250, 1000)
    assert {"face_swap", "self_blend", "inpaint"} <= set(PRESETS["faces"].generators)
    assert not {"face_swap", "self_blend", "inpaint"} & set(PRESETS["mini"].generators)
    assert get_preset("faces", resolution=64).resolution == 64
    with pytest.raises(ConfigError, match="unknown preset 'huge'"):
        get_preset("huge")
    with pytest.raises(ConfigError, match="resolution"):
        get_preset("mini", resolution=2)


def test_paired_plan_uses_every_image_with_its_real_as_source(tmp_path: Path) -> None:
    kinds = {"tiny_manip": "manipulation", "tiny_sampler": "sampler"}
    preset = tiny_preset(pairs=True, all_images=True, share_reals=True, val_fraction=0.25)
    with ImageSource(tiny_source(tmp_path / "src", n=20)) as src:
        plan = make_plan(src, preset, kinds, seed=0)
    manip, sampler = plan.generators["tiny_manip"], plan.generators["tiny_sampler"]
    counts = {s: len(p.reals) for s, p in manip.items()}
    assert counts == {"test": 6, "val": 4, "train": 10}  # 30 % held out, 25 % of the rest to val
    names = [n for p in manip.values() for n in p.reals]
    assert sorted(names) == sorted(src.names)  # every image once
    for split, part in manip.items():
        assert part.sources == part.reals  # fake i is made from real i
        assert part.reals == sampler[split].reals  # the same order for every generator
        assert all(d != s for d, s in zip(part.donors, part.sources, strict=True))
