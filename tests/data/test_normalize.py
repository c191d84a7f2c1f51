"""data.normalize removes the format shortcut and refuses images smaller than the crop."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from PIL import Image

from fakescope.config import NormalizeConfig
from fakescope.data.audit import audit_table
from fakescope.data.index import index_dataset
from fakescope.data.normalize import SOURCE_PATH, normalize_table
from fakescope.errors import DataError
from tests.conftest import write_image


def _shortcut_dataset(root: Path, n: int = 16) -> Path:
    for i in range(n):
        write_image(root / "gen" / "0_real" / f"r{i}.png", seed=i, size=40, fmt="PNG")
        write_image(root / "gen" / "1_fake" / f"f{i}.jpg", seed=50 + i, size=32, fmt="JPEG")
    return root


def test_normalize_removes_the_shortcut(tmp_path: Path) -> None:
    table = index_dataset(_shortcut_dataset(tmp_path / "d"))
    assert audit_table(table)[0].flagged
    cfg = NormalizeConfig(crop=24, jpeg_quality=90, cache=tmp_path / "cache")
    norm = normalize_table(table, cfg, progress=False)
    assert list(norm[SOURCE_PATH]) == list(table["path"])
    for p in norm["path"]:
        with Image.open(p) as img:
            assert (img.format, img.size) == ("JPEG", (24, 24))
    assert not audit_table(norm)[0].flagged
    # cached copies are reused, and readable by others (umask mode, not 0600)
    again = normalize_table(table, cfg, progress=False)
    assert list(again["path"]) == list(norm["path"])
    assert Path(norm["path"].iloc[0]).stat().st_mode & stat.S_IRGRP


def test_crop_larger_than_an_image_is_a_one_line_error(tmp_path: Path) -> None:
    table = index_dataset(_shortcut_dataset(tmp_path / "d", n=4))
    cfg = NormalizeConfig(crop=36, cache=tmp_path / "cache")
    with pytest.raises(DataError, match=r"smaller than data.normalize.crop=36"):
        normalize_table(table, cfg, progress=False)


def test_normalize_needs_a_setting(tmp_path: Path) -> None:
    table = index_dataset(_shortcut_dataset(tmp_path / "d", n=2))
    with pytest.raises(DataError, match="crop and/or jpeg_quality"):
        normalize_table(table, NormalizeConfig(), progress=False)


def test_scale_wipes_a_jpeg_history_that_a_re_encode_keeps(tmp_path: Path) -> None:
    """Reals with a q75 history vs never-compressed fakes: re-encoding both at q90 keeps the
    history apart; down-scaling x0.5 first (``scale``) removes it."""
    import numpy as np

    from fakescope.data.jpeg_history import QUANT, image_scores
    from tests.data.pixel_sets import jpeg, photo

    for i in range(12):
        (tmp_path / "d" / "gen" / "0_real").mkdir(parents=True, exist_ok=True)
        (tmp_path / "d" / "gen" / "1_fake").mkdir(parents=True, exist_ok=True)
        jpeg(photo(i, size=256), 75).save(tmp_path / "d" / "gen" / "0_real" / f"r{i}.png")
        photo(100 + i, size=256).save(tmp_path / "d" / "gen" / "1_fake" / f"f{i}.png")
    table = index_dataset(tmp_path / "d")

    def mean_gap(cfg: NormalizeConfig) -> float:
        out = normalize_table(table, cfg, progress=False)
        scores: dict[int, list[float]] = {0: [], 1: []}
        for path, label in zip(out["path"], out["label"], strict=True):
            scores[int(label)].append(image_scores(path, crop=96)[QUANT])
        return float(np.mean(scores[0]) - np.mean(scores[1]))

    kept = mean_gap(NormalizeConfig(jpeg_quality=90, cache=tmp_path / "c1"))
    wiped = mean_gap(NormalizeConfig(scale=0.5, jpeg_quality=90, cache=tmp_path / "c2"))
    assert kept > 0.1  # the reals' q75 grid survives a q90 re-encode
    assert abs(wiped) < kept / 4


def test_normalize_folder_keeps_the_layout_and_refuses_to_overwrite(tmp_path: Path) -> None:
    from fakescope.data.normalize import normalize_folder

    src = _shortcut_dataset(tmp_path / "src", n=4)
    cfg = NormalizeConfig(scale=0.5, crop=16, jpeg_quality=90)
    assert normalize_folder(src, tmp_path / "dst", cfg, progress=False) == 8
    before, after = index_dataset(src), index_dataset(tmp_path / "dst")
    assert sorted(after["label"]) == sorted(before["label"])
    for path in after["path"]:
        with Image.open(path) as img:
            assert img.format == "JPEG" and img.size == (16, 16)
    with pytest.raises(DataError, match="not empty"):
        normalize_folder(src, tmp_path / "dst", cfg, progress=False)
    with pytest.raises(DataError, match="inside"):
        normalize_folder(src, src / "copy", cfg, progress=False)
