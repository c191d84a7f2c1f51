"""The continual docs page and the recorded run command name paths as typed, never absolute."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from fakescope.continual.report import REPORT, method_entry, write_page
from fakescope.fileio import atomic_write_json


def _report(out: Path, command: str = "") -> None:
    auc = [[0.9], [0.7, 0.8]]
    acc = [[0.8], [0.6, 0.7]]
    entry = method_entry(auc, acc, auc, 2, 1.0)
    report: dict[str, Any] = {"tasks": ["gan", "vae"], "methods": {"ft": entry}}
    if command:
        report["command"] = command
    atomic_write_json(out / REPORT, report)


def test_page_records_relative_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "runs" / "seq"  # absolute, as the config loader resolves --out
    _report(out)
    text = write_page(out, tmp_path / "docs" / "continual.md").read_text()
    assert "`fakescope continual --out runs/seq --page docs/continual.md`" in text
    assert str(tmp_path) not in text
    assert "| ft | 0.750 |" in text  # AA = mean of the last row (0.7, 0.8)


def test_page_outside_the_folder_keeps_only_the_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "repo").mkdir()
    monkeypatch.chdir(tmp_path / "repo")
    out = tmp_path / "elsewhere" / "seq"
    _report(out)
    text = write_page(out, Path("docs/c.md")).read_text()
    assert "--out .../seq --page docs/c.md" in text and str(tmp_path) not in text


def test_run_command_is_recorded_without_absolute_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import fakescope.continual.sequence as sequence
    import fakescope.data.prepare as prepare
    from fakescope.cli.app import app

    monkeypatch.chdir(tmp_path)
    seen: dict[str, str] = {}

    def fake_run(table: object, cfg: object, params: object, out: Path, **kw: Any) -> dict:
        seen["command"] = kw["command"]
        return {"methods": {}}

    monkeypatch.setattr(sequence, "run_sequence", fake_run)
    monkeypatch.setattr(prepare, "index_config", lambda data: None)
    data = tmp_path / "bench" / "mini"
    data.mkdir(parents=True)
    argv = ["continual", "--data", str(data), "--tasks", "a,b", "--out", "runs/x"]
    monkeypatch.setattr(sys, "argv", ["fakescope", *argv])
    result = CliRunner().invoke(app, argv)
    assert result.exit_code == 0, result.output
    assert seen["command"] == "fakescope continual --data bench/mini --tasks a,b --out runs/x"
