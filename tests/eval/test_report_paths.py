"""Absolute paths in report text and data: relative to the report, the cwd, or a bare name."""

from __future__ import annotations

from pathlib import Path

import pytest

from fakescope.eval.report_paths import portable_path, portable_text, portable_value


def test_paths_are_made_relative_to_base_then_cwd_else_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    base = tmp_path / "runs" / "x"
    assert portable_path(str(base / "figures" / "a.png"), base) == "figures/a.png"
    assert portable_path(str(base), base) == "."
    assert portable_path(str(tmp_path / "bench" / "mini"), base) == "bench/mini"
    assert portable_path("/root/.cache/fakescope/emb.sqlite", base) == "emb.sqlite"
    assert portable_path("relative/path.png", base) == "relative/path.png"
    assert portable_path("C:\\Users\\ann\\model", base) == "model"


def test_text_keeps_tags_fractions_urls_and_data_uris() -> None:
    uri = "data:image/png;base64,iVBOR/w0+/KGgo/AAA="
    text = f"<td>/home/ann/x.png</td> n/a TPR/FPR http://h/p ./a ~/b a / b <img src='{uri}'>"
    assert portable_text(text) == (
        f"<td>x.png</td> n/a TPR/FPR http://h/p ./a ~/b a / b <img src='{uri}'>"
    )


def test_values_are_walked_and_whole_string_paths_may_hold_spaces() -> None:
    value = {"/tmp/a b/c d": ["/srv/my data/set", 3, None, "see /opt/x/y.txt"]}
    assert portable_value(value) == {"c d": ["set", 3, None, "see y.txt"]}
