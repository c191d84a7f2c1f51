"""The dataset audit flags format shortcuts and passes matched data."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from fakescope.cli.app import app
from fakescope.data.audit import (
    FLAG_AUC,
    JPEG_HISTORY,
    SHARPNESS,
    audit_frame,
    audit_table,
    file_properties,
    loo_rule_accuracy,
    pixel_warning,
    shortcut_warning,
)
from fakescope.data.index import index_dataset
from fakescope.errors import DataError
from tests.conftest import write_image
from tests.data.pixel_sets import blur, eight_px_grid, half, jpeg, write_two_class


def _dataset(root: Path, *, fake_fmt: str, n: int = 20) -> Path:
    for i in range(n):
        write_image(root / "gen" / "0_real" / f"r{i}.png", seed=i, size=32, fmt="PNG")
        ext = "png" if fake_fmt == "PNG" else "jpg"
        write_image(root / "gen" / "1_fake" / f"f{i}.{ext}", seed=100 + i, size=32, fmt=fake_fmt)
    return root


def test_png_reals_vs_jpeg_fakes_is_flagged(tmp_path: Path) -> None:
    table = index_dataset(_dataset(tmp_path, fake_fmt="JPEG"))
    (audit,) = audit_table(table)
    assert audit.header_auc >= FLAG_AUC
    assert audit.flagged and audit.verdict == "shortcut"
    assert audit.property_accuracy["container"] == pytest.approx(1.0)
    assert "container" in audit.giveaways()
    warning = shortcut_warning([audit])
    assert warning is not None and "gen" in warning and "\n" not in warning


def test_matched_formats_pass(tmp_path: Path) -> None:
    table = index_dataset(_dataset(tmp_path, fake_fmt="PNG"))
    (audit,) = audit_table(table)
    assert audit.header_auc == pytest.approx(0.5)
    assert not audit.flagged
    assert shortcut_warning([audit]) is None


def test_loo_rule_cannot_memorise_unique_values() -> None:
    # every file has its own value: nothing is shared, so nothing can be learnt
    labels = np.array([0] * 10 + [1] * 10)
    assert loo_rule_accuracy([f"v{i}" for i in range(20)], labels) == pytest.approx(0.5)
    # the same value in both classes at the same rate: a tie, not anti-correlation
    values = ["a", "b"] * 10
    assert loo_rule_accuracy(values, labels) == pytest.approx(0.5)
    # a value that follows the class is found
    assert loo_rule_accuracy(["x"] * 10 + ["y"] * 10, labels) == pytest.approx(1.0)


def test_unreadable_file_is_a_property_not_a_crash(tmp_path: Path) -> None:
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    props = file_properties(bad)
    assert props["container"] == "unreadable"


def test_empty_table_is_a_one_line_error() -> None:
    with pytest.raises(DataError, match="empty"):
        audit_table(pd.DataFrame(columns=["path", "label", "generator"]))


def test_jpeg_history_hidden_in_lossless_reals_is_flagged(tmp_path: Path) -> None:
    # reals: JPEG q75, then saved as PNG; fakes: smooth-pass photos saved as PNG
    root = write_two_class(tmp_path, real=lambda im: jpeg(im, 75), fake=lambda im: blur(im, 0.6))
    (audit,) = audit_table(index_dataset(root))
    assert not audit.flagged  # same container, size and mode: the header cannot tell
    assert audit.jpeg_history is not None and audit.jpeg_history.auc < 0.2
    assert JPEG_HISTORY in audit.pixel_flags and audit.verdict == "shortcut"
    assert "reals carry more JPEG history" in audit.describe()
    warning = pixel_warning([audit])
    assert warning is not None and "gen (jpeg history" in warning and "\n" not in warning
    assert shortcut_warning([audit]) is None  # normalize would not fix it
    assert "jpeg history" in str(audit_frame([audit]).loc[0, "verdict"])


def test_same_history_in_both_classes_is_not_flagged(tmp_path: Path) -> None:
    # both down-scaled x0.5 with antialiasing (erasing the reals' q75 grid), then JPEG q90
    root = write_two_class(
        tmp_path,
        real=lambda im: half(jpeg(im, 75)),
        fake=lambda im: half(blur(im, 0.6)),
        fmt="JPEG",
        size=192,
    )
    (audit,) = audit_table(index_dataset(root))
    assert audit.jpeg_history is not None and audit.jpeg_history.real_mean > 0.3  # both have it
    assert abs(audit.jpeg_history.auc - 0.5) < 0.15
    assert JPEG_HISTORY not in audit.pixel_flags


def test_blurry_fakes_flag_sharpness_not_jpeg_history(tmp_path: Path) -> None:
    root = write_two_class(tmp_path, real=lambda im: im, fake=lambda im: blur(im, 1.0))
    (audit,) = audit_table(index_dataset(root))
    assert audit.pixel_flags == [SHARPNESS]
    assert audit.sharpness is not None and audit.sharpness.auc < 0.1
    assert "fakes blurrier" in audit.describe()


def test_a_decoder_grid_is_not_a_jpeg_history(tmp_path: Path) -> None:
    # fakes carry an 8-px periodic pattern (a genuine decoder trace): blocky, but no lattice
    root = write_two_class(tmp_path, real=lambda im: im, fake=eight_px_grid)
    (audit,) = audit_table(index_dataset(root))
    assert audit.blockiness is not None and audit.blockiness.auc > 0.9
    assert audit.pixel_flags == [] and audit.verdict == "pass"


def test_pixel_checks_need_enough_images_and_can_be_skipped(tmp_path: Path) -> None:
    root = write_two_class(tmp_path, real=lambda im: jpeg(im, 75), fake=blur, n=8)
    table = index_dataset(root)
    (audit,) = audit_table(table)
    assert audit.jpeg_history is not None and audit.jpeg_history.auc < 0.1
    assert audit.pixel_flags == []  # perfectly separated, but 8 images per class prove little
    (audit,) = audit_table(table, pixel_sample=3)
    assert audit.jpeg_history is not None and audit.jpeg_history.n_real == 3
    (audit,) = audit_table(table, pixel_sample=0)
    assert audit.jpeg_history is None and audit.sharpness is None and audit.verdict == "pass"


def test_cli_audit_shows_the_pixel_checks(tmp_path: Path) -> None:
    root = write_two_class(tmp_path, real=lambda im: jpeg(im, 75), fake=lambda im: blur(im, 0.6))
    res = CliRunner().invoke(app, ["data", "audit", str(root)], env={"COLUMNS": "250"})
    assert res.exit_code == 0, res.output
    assert "jpeg_history" in res.output and "blockiness" in res.output
    assert "shortcut (jpeg history" in res.output
    assert "warning: pixel shortcut in gen" in res.output


@pytest.mark.shared
def test_realgen_animegan_flagged_others_pass(shared_data: Path, tmp_path: Path) -> None:
    with zipfile.ZipFile(shared_data / "realgen-dev.zip") as zf:
        zf.extractall(tmp_path)
    table = index_dataset(tmp_path / "realgen-dev")
    audits = {a.source: a for a in audit_table(table)}
    assert audits["animegan"].flagged
    assert not audits["pix2pix"].flagged
    assert not audits["cyclegan"].flagged
    # a share of pix2pix's and cyclegan's real photos went through JPEG; no fake did
    for name in ("pix2pix", "cyclegan"):
        check = audits[name].jpeg_history
        assert check is not None and check.auc < 0.4 and check.real_mean > check.fake_mean + 0.1
        assert JPEG_HISTORY in audits[name].pixel_flags
