"""``--help`` of every command shows every option name whole on an 80-column terminal.

The commands are collected from the app itself (hidden aliases included), so a new
command or option is checked without editing this file.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from fakescope.cli.app import app

WIDTH = 80


def _walk(cmd: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    """(argv prefix, click command) for the command and, for a group, all its subcommands."""
    yield path, cmd
    for name, sub in sorted((getattr(cmd, "commands", None) or {}).items()):
        yield from _walk(sub, (*path, name))


COMMANDS = list(_walk(typer.main.get_command(app)))


def render_help(argv: tuple[str, ...]) -> str:
    """``fakescope ARGV --help`` as printed on an 80-column terminal."""
    result = CliRunner().invoke(
        app, [*argv, "--help"], env={"COLUMNS": str(WIDTH)}, terminal_width=WIDTH
    )
    assert result.exit_code == 0, result.output
    return result.output


def option_names(cmd: Any) -> list[str]:
    """Every long and short option name of ``cmd`` (``--no-x`` forms included; not ``--help``)."""
    names: list[str] = []
    for param in cmd.params:
        if getattr(param, "param_type_name", "") == "option":
            names += [*param.opts, *param.secondary_opts]
    return names


def missing_names(text: str, names: list[str]) -> list[str]:
    """The names that do not appear in ``text`` as a whole word (cut or wrapped ones count)."""
    return [n for n in names if not re.search(rf"(?<![\w-]){re.escape(n)}(?![\w-])", text)]


def test_the_walk_reaches_nested_and_hidden_commands() -> None:
    paths = {" ".join(p) for p, _ in COMMANDS}
    assert {"", "perf speed", "ood benchmark", "continual", "bench build"} <= paths
    assert len(COMMANDS) > 20


def test_a_cut_name_is_caught() -> None:
    assert missing_names("  --compare-backe…  With --model", ["--compare-backends"]) == [
        "--compare-backends"
    ]
    assert missing_names("  --compare-backends  With", ["--compare-backends"]) == []


@pytest.mark.parametrize(
    ("argv", "cmd"), COMMANDS, ids=[" ".join(p) or "fakescope" for p, _ in COMMANDS]
)
def test_every_option_name_shows_whole_at_80_columns(argv: tuple[str, ...], cmd: Any) -> None:
    text = render_help(argv)
    names = [*option_names(cmd), "--help"]
    cut = missing_names(text, names)
    assert not cut, f"'fakescope {' '.join(argv)} --help' at {WIDTH} columns cuts {cut}:\n{text}"


def test_config_key_hints_in_brackets_are_not_eaten() -> None:
    """Help texts end with the config key a flag sets, e.g. ``[detector.name]``."""
    text = render_help(("perf", "speed"))
    assert "[detector.name]" in text and "[detector.params.img_size]" in text
