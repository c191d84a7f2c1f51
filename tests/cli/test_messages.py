"""Messages may only name command-line options that exist.

Every ``--flag`` written in a string literal of ``src/fakescope`` (error
messages, hints, help text - docstrings excluded) must be an option of some
command of the ``fakescope`` app, collected from the app itself so new commands
count automatically. Every ``--set KEY=...`` must name a real config key; for
``detector.params.<field>`` some registered detector must have that field.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
from pydantic import BaseModel

import fakescope
from fakescope.cli.app import app
from fakescope.config import ExperimentConfig
from fakescope.detectors.catalog import DETECTORS

SRC = Path(fakescope.__file__).parent
FLAG = re.compile(r"(?<![\w-])--([a-z][a-z0-9]*(?:-[a-z0-9]+)*)")
SET_KEY = re.compile(r"--set\s+([A-Za-z_][\w.]*)=")


def _commands(cmd: Any) -> Iterator[Any]:
    """The command and, for a group, all its subcommands (duck-typed: typer may vendor click)."""
    yield cmd
    for sub in (getattr(cmd, "commands", None) or {}).values():
        yield from _commands(sub)


def app_flags() -> set[str]:
    """Every long option (``--name``, also ``--no-name`` forms) of every command and group."""
    flags = {"--help"}
    for cmd in _commands(typer.main.get_command(app)):
        for param in cmd.params:
            names = [*getattr(param, "opts", ()), *getattr(param, "secondary_opts", ())]
            flags.update(n for n in names if n.startswith("--"))
    return flags


def _docstring_nodes(tree: ast.AST) -> set[int]:
    ids: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                ids.add(id(body[0].value))
    return ids


def string_literals(path: Path) -> Iterator[tuple[int, str]]:
    """(line, text) of every str constant in ``path`` except docstrings (f-string parts included)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    skip = _docstring_nodes(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip:
            yield node.lineno, node.value


def flag_mentions() -> list[tuple[str, str]]:
    """(``file:line``, ``--flag``) for every flag named in a source string literal.

    Implicitly concatenated literals are one constant in the AST, so a flag split
    across the pieces of one message is still found whole.
    """
    found = []
    for path in sorted(SRC.rglob("*.py")):
        for line, text in string_literals(path):
            for match in FLAG.finditer(text):
                found.append((f"{path.relative_to(SRC)}:{line}", match.group(0)))
    return found


def set_key_mentions() -> list[tuple[str, str]]:
    """(``file:line``, ``key.path``) for every ``--set key.path=`` in a source string literal."""
    found = []
    for path in sorted(SRC.rglob("*.py")):
        for line, text in string_literals(path):
            found += [(f"{path.relative_to(SRC)}:{line}", k) for k in SET_KEY.findall(text)]
    return found


def config_key_exists(key: str) -> bool:
    """Whether a dotted ``--set`` key names a field of the experiment config.

    ``detector.params.<name>`` is valid when any registered detector's Params has ``<name>``.
    """
    parts = key.split(".")
    if parts[:2] == ["detector", "params"]:
        if len(parts) < 3:
            return False
        return any(parts[2] in DETECTORS.get(n).Params.model_fields for n in DETECTORS.names())
    model: type[BaseModel] | None = ExperimentConfig
    for part in parts:
        if model is None or part not in model.model_fields:
            return False
        annotation = model.model_fields[part].annotation
        model = _model_in(annotation)
    return True


def _model_in(annotation: object) -> type[BaseModel] | None:
    """The pydantic model inside a field annotation (``X``, ``X | None``), else None."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        if isinstance(arg, type) and issubclass(arg, BaseModel):
            return arg
    return None


def test_the_scan_finds_flags_and_the_app_has_the_known_ones() -> None:
    """Guards the guard: the scanner sees flags, and the app walk reaches subcommands."""
    flags = app_flags()
    assert {"--set", "--config", "--out", "--model", "--no-progress"} <= flags
    assert "--resume" in flags  # an option of a subcommand (bench build)
    mentioned = {flag for _, flag in flag_mentions()}
    assert "--set" in mentioned and "--out" in mentioned
    assert any(key.startswith("detector.params.") for _, key in set_key_mentions())


def test_a_made_up_flag_would_be_caught(tmp_path: Path) -> None:
    fake = tmp_path / "lie.py"
    fake.write_text(
        '"""Docstrings may say --whatever."""\n'
        'def f():\n    raise ValueError("pass --no-such-flag PATH " "or --set x.y=1")\n',
        encoding="utf-8",
    )
    texts = [text for _, text in string_literals(fake)]
    named = {m.group(0) for text in texts for m in FLAG.finditer(text)}
    assert named == {"--no-such-flag", "--set"}
    assert "--no-such-flag" not in app_flags()
    assert not config_key_exists("x.y")
    assert not config_key_exists("detector.params.no_such_param")


def test_every_flag_in_a_message_exists_on_some_command() -> None:
    flags = app_flags()
    missing = sorted({f"{flag} ({where})" for where, flag in flag_mentions() if flag not in flags})
    assert not missing, f"messages name flags no fakescope command has: {', '.join(missing)}"


@pytest.mark.parametrize("key", ["detector.params.weights", "detector.params.allow_pickle"])
def test_weights_options_exist_for_the_cnn_and_the_probe(key: str) -> None:
    field = key.rsplit(".", 1)[1]
    for name in ("cnn", "probe"):
        assert field in DETECTORS.get(name).Params.model_fields, f"{name} lacks {field}"


def test_every_set_key_in_a_message_exists() -> None:
    missing = sorted(
        {f"{key} ({where})" for where, key in set_key_mentions() if not config_key_exists(key)}
    )
    assert not missing, f"messages name --set keys the config does not have: {', '.join(missing)}"
