"""User errors: one red ``error:`` line on stderr, exit code 2, no traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from fakescope.cli.app import app
from fakescope.cli.common import one_line
from tests.cli.conftest import error_lines


def assert_user_error(result: object, *needles: str) -> str:
    assert result.exit_code == 2, result.output  # type: ignore[attr-defined]
    lines = error_lines(result.stderr)  # type: ignore[attr-defined]
    assert len(lines) == 1, lines
    assert lines[0].startswith("error: ")
    for needle in needles:
        assert needle in lines[0]
    assert "Traceback" not in result.output  # type: ignore[attr-defined]
    return lines[0]


def test_unknown_config_key_is_named(runner: CliRunner, dataset: Path, tmp_path: Path) -> None:
    cfg = tmp_path / "exp.yaml"
    cfg.write_text("data:\n  layout: auto\ndetectr:\n  name: cnn\n")
    res = runner.invoke(
        app, ["train", "--config", str(cfg), "--data", str(dataset), "--out", str(tmp_path / "b")]
    )
    assert_user_error(res, "unknown config key 'detectr'", str(cfg))
    assert not (tmp_path / "b").exists()


def test_unknown_set_key_is_named(runner: CliRunner, dataset: Path) -> None:
    res = runner.invoke(app, ["data", "info", str(dataset), "--set", "data.splt.seed=1"])
    assert_user_error(res, "'data.splt'")


def test_set_without_equals(runner: CliRunner, dataset: Path) -> None:
    res = runner.invoke(app, ["data", "info", str(dataset), "--set", "data.layout"])
    assert_user_error(res, "--set expects key=value")


def test_unknown_detector_lists_known_ones(
    runner: CliRunner, dataset: Path, tmp_path: Path
) -> None:
    res = runner.invoke(
        app, ["train", "--data", str(dataset), "--detector", "nope", "--out", str(tmp_path / "b")]
    )
    line = assert_user_error(res, "unknown detector 'nope'", "cnn")
    assert "choose one of" in line


def test_unknown_detector_param_is_named(runner: CliRunner, dataset: Path, tmp_path: Path) -> None:
    args = [
        "train",
        "--data",
        str(dataset),
        "--detector",
        "cnn",
        "--set",
        "detector.params.archh=resnet18",
    ]
    res = runner.invoke(app, [*args, "--out", str(tmp_path / "b")])
    assert_user_error(res, "'archh'")


def test_missing_data_root(runner: CliRunner, tmp_path: Path) -> None:
    res = runner.invoke(app, ["train", "--detector", "cnn", "--out", str(tmp_path / "b")])
    assert_user_error(res, "--data")
    res = runner.invoke(app, ["data", "info", str(tmp_path / "nowhere")])
    assert_user_error(res, "does not exist")


def test_missing_config_file(runner: CliRunner, dataset: Path, tmp_path: Path) -> None:
    res = runner.invoke(
        app, ["data", "info", str(dataset), "--config", str(tmp_path / "none.yaml")]
    )
    assert_user_error(res, "does not exist")


def test_message_with_brackets_is_printed_verbatim(runner: CliRunner, tmp_path: Path) -> None:
    bundle = tmp_path / "b"
    bundle.mkdir()
    (bundle / "x.pkl").write_bytes(b"")
    res = runner.invoke(app, ["bundle", "info", str(bundle)])
    assert_user_error(res, "['x.pkl']")  # not swallowed as rich markup


@pytest.mark.parametrize(
    ("text", "expected"), [("a\nb", "a b"), ("  one  \n\n two ", "one two"), ("same", "same")]
)
def test_one_line(text: str, expected: str) -> None:
    assert one_line(text) == expected
