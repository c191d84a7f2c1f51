"""Dataset summaries: counts per split x generator x label with totals, and their text form."""

from __future__ import annotations

import pandas as pd

from fakescope.data.info import TOTAL, format_summary, summarize
from fakescope.data.schema import validate_table


def _table() -> pd.DataFrame:
    rows = [
        ("a.png", 0, "sd", "test"),
        ("b.png", 1, "sd", "test"),
        ("c.png", 1, "sd", "test"),
        ("d.png", 0, "progan", "train"),
        ("e.png", 1, "progan", "train"),
        ("f.png", 1, "gaugan", "train"),
        ("g.png", 0, "", "val"),
    ]
    return validate_table(pd.DataFrame(rows, columns=["path", "label", "generator", "split"]))


def test_summarize_counts_and_totals() -> None:
    s = summarize(_table())
    assert list(s.columns) == ["split", "generator", "real", "fake", "total"]
    assert list(zip(s["split"], s["generator"], strict=True)) == [
        ("train", "gaugan"),
        ("train", "progan"),
        ("train", TOTAL),
        ("val", ""),
        ("val", TOTAL),
        ("test", "sd"),
        ("test", TOTAL),
        (TOTAL, TOTAL),
    ]
    by = {(r.split, r.generator): [r.real, r.fake, r.total] for r in s.itertuples()}
    assert by[("test", "sd")] == [1, 2, 3]
    assert by[("train", TOTAL)] == [1, 2, 3]
    assert by[(TOTAL, TOTAL)] == [3, 4, 7]
    assert (s["real"] + s["fake"] == s["total"]).all()


def test_format_summary_is_a_readable_table() -> None:
    text = format_summary(_table())
    lines = text.splitlines()
    assert lines[0] == "7 images: 3 real, 4 fake; 3 generator(s)"
    assert lines[2].split() == ["split", "generator", "real", "fake", "total"]
    assert "test   sd" in text
    assert lines[-1].split() == [TOTAL, TOTAL, "3", "4", "7"]
    assert any(line.split()[:2] == ["val", "-"] for line in lines)  # "" generator shown as "-"
