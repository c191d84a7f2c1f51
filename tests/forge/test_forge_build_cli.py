"""``fakescope bench build``: a named preset end to end, and one-line errors."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from fakescope.cli.app import app


def test_cli_builds_a_smoke_benchmark(tiny_zoo: None, source: Path, tmp_path: Path) -> None:
    out = tmp_path / "bench"
    args = ["forge", "build", str(source), "--preset", "smoke", "--out", str(out)]
    fast = ["--generators", "tiny_sampler", "--resolution", "16", "--no-progress"]
    res = CliRunner().invoke(app, [*args, *fast])
    assert res.exit_code == 0, res.output
    text = "".join(res.stdout.split())  # the table may wrap at the terminal width
    assert f"summary:{out / 'summary.html'}" in text
    assert "tiny_sampler" in text and "file-sizeAUC" in text
    m = pd.read_parquet(out / "manifest.parquet")
    assert m.groupby(["split", "label"]).size().to_dict() == {
        (s, lab): n for s, n in (("test", 8), ("train", 8), ("val", 4)) for lab in (0, 1)
    }
    again = CliRunner().invoke(app, [*args, *fast])
    assert again.exit_code == 2 and "already holds a complete build" in again.output


def test_cli_unknown_generator_is_one_line(tiny_zoo: None, source: Path, tmp_path: Path) -> None:
    res = CliRunner().invoke(
        app, ["forge", "build", str(source), "--out", str(tmp_path / "o"), "--generators", "nope"]
    )
    assert res.exit_code == 2
    assert "unknown generator 'nope'" in res.output and res.output.count("error:") == 1
