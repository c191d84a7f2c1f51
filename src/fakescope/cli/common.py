"""Shared CLI plumbing: option types, config building, error printing, tables.

Every command body runs inside :func:`cli_errors`, which turns a
:class:`~fakescope.errors.FakescopeError` into one red ``error: ...`` line on
stderr and exit code 2 (no traceback), and Ctrl-C into exit code 130.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
import typer
from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from fakescope.config import ExperimentConfig, load_config, parse_set
from fakescope.errors import FakescopeError

#: Exit code of a user error (bad path, bad config, bad bundle); click uses 2 for usage errors too.
EXIT_USER_ERROR = 2
#: Exit code after Ctrl-C (128 + SIGINT), as shells do.
EXIT_INTERRUPTED = 130

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

ConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--config", "-c", help="YAML experiment config; flags override its values.", dir_okay=False
    ),
]
SetOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--set", help="Override any config key, e.g. --set detector.params.lr=0.001 (repeatable)."
    ),
]
DeviceOpt = Annotated[
    str | None, typer.Option("--device", help="torch device, e.g. cpu, cuda:0, mps.")
]
BatchOpt = Annotated[
    int | None, typer.Option("--batch-size", "-b", min=1, help="Images per batch.")
]
WorkersOpt = Annotated[
    int | None,
    typer.Option("--workers", "-j", min=0, help="Decoding worker processes (0 = in process)."),
]
ProgressOpt = Annotated[bool, typer.Option("--progress/--no-progress", help="Show progress bars.")]


def one_line(message: str) -> str:
    """Collapse a message onto one line (errors must never span several lines)."""
    return " ".join(part.strip() for part in str(message).splitlines() if part.strip())


def print_error(message: str) -> None:
    """Print ``error: message`` as one red line on stderr (no markup interpretation)."""
    err.print(Text(f"error: {one_line(message)}", style="bold red"))


@contextmanager
def cli_errors() -> Iterator[None]:
    """Run a command body: user errors exit 2 with one red line, Ctrl-C exits 130."""
    try:
        yield
    except FakescopeError as exc:
        print_error(str(exc))
        raise typer.Exit(EXIT_USER_ERROR) from None
    except KeyboardInterrupt:
        err.print(Text("interrupted", style="yellow"))
        raise typer.Exit(EXIT_INTERRUPTED) from None


def build_config(
    config: Path | None,
    flags: Mapping[str, Any] | None = None,
    sets: Sequence[str] | None = None,
) -> ExperimentConfig:
    """Load ``config`` and apply overrides: dotted ``flags`` (None = not given), then ``--set``.

    ``--set`` values win over the dedicated flags. Unknown keys raise a
    :class:`~fakescope.errors.ConfigError` naming the key.
    """
    overrides: dict[str, Any] = {k: v for k, v in (flags or {}).items() if v is not None}
    overrides.update(parse_set(list(sets or [])))
    return load_config(config, overrides)


def describe_progress(enabled: bool, text: str) -> str | None:
    """The ``progress`` argument of library calls: a description, or None for no bar."""
    return text if enabled else None


def frame_table(
    frame: pd.DataFrame, title: str | None = None, max_rows: int | None = None
) -> Table:
    """A compact rich table of ``frame`` (floats with 3 decimals; NaN shown as blank)."""
    table = Table(title=title, box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for col in frame.columns:
        table.add_column(str(col), overflow="fold")
    rows = frame if max_rows is None else frame.head(max_rows)
    for row in rows.itertuples(index=False):
        table.add_row(*(_cell(v) for v in row))
    return table


def _cell(value: object) -> str:
    if isinstance(value, float):
        return "" if value != value else f"{value:.3f}"
    return "" if value is None else str(value)


def kv_table(rows: Sequence[tuple[str, str]], title: str | None = None) -> Table:
    """A two-column rich table of (name, value) pairs."""
    table = Table(title=title, show_header=False, box=box.SIMPLE, show_edge=False, pad_edge=False)
    table.add_column(style="bold")
    table.add_column()
    for k, v in rows:
        table.add_row(k, v)
    return table
