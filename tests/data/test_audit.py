"""The dataset audit flags format shortcuts and passes matched data."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fakescope.data.audit import (
    FLAG_AUC,
    audit_table,
    file_properties,
    loo_rule_accuracy,
    shortcut_warning,
)
from fakescope.data.index import index_dataset
from fakescope.errors import DataError
from tests.conftest import write_image


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


@pytest.mark.shared
def test_realgen_animegan_flagged_others_pass(shared_data: Path, tmp_path: Path) -> None:
    with zipfile.ZipFile(shared_data / "realgen-dev.zip") as zf:
        zf.extractall(tmp_path)
    audits = {a.source: a for a in audit_table(index_dataset(tmp_path / "realgen-dev"))}
    assert audits["animegan"].flagged
    assert not audits["pix2pix"].flagged
    assert not audits["cyclegan"].flagged
