"""The ``fakescope`` typer app: every command group registered, and the console-script entry.

One module per command group; heavy imports (torch, pandas) happen inside the
commands so ``fakescope --help`` stays fast. Every user error prints one red
``error: ...`` line and exits 2; Ctrl-C exits 130 (see :mod:`.common`).
"""

from __future__ import annotations

from typing import Annotated

import typer

import fakescope
from fakescope.cli import (
    bundle,
    check,
    continual,
    data,
    demo,
    evaluate,
    explain,
    export,
    forge,
    listing,
    ood,
    perf,
    results,
    scan,
    serve,
    train,
)
from fakescope.cli.common import out


def bench_alias() -> typer.Typer:
    """``fakescope bench``: the old name of ``perf`` (speed, latency, heads, serve) and of
    ``forge build``, kept so that existing scripts keep working."""
    alias = typer.Typer(help="Old name of 'perf' and 'forge build'.", no_args_is_help=True)
    for name, command in (
        ("speed", perf.speed),
        ("latency", perf.latency),
        ("heads", perf.heads),
        ("serve", perf.serve_load),
        ("build", forge.build),
    ):
        alias.command(name)(command)
    return alias


app = typer.Typer(
    name="fakescope",
    help="Detect AI-generated images: train, evaluate, scan, inspect.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)
app.command("demo")(demo.demo)
app.command("train")(train.train)
app.command("eval")(evaluate.evaluate)
app.command("scan")(scan.scan)
app.command("check")(check.check)
app.command("explain")(explain.explain)
app.command("export")(export.export)
app.command("list")(listing.list_registered)
app.command("serve")(serve.serve)
app.command("continual")(continual.continual)
app.add_typer(data.app, name="data")
app.add_typer(bundle.app, name="bundle")
app.add_typer(perf.app, name="perf")
app.add_typer(forge.app, name="forge")
app.add_typer(bench_alias(), name="bench", hidden=True)
app.add_typer(results.app, name="results")
app.add_typer(ood.app, name="ood")


def plain_help(typer_app: typer.Typer) -> typer.Typer:
    """Render ``--help`` of ``typer_app`` and all its sub-apps with click's plain formatter.

    Typer's rich help puts each option in a six-column table (required mark, long and
    short names, ``--no-`` forms, type, help) inside a panel; when that does not fit the
    terminal (80 columns: ``perf speed``, ``continual``), rich shrinks every column evenly,
    so long option names come out cut (``--compare-backe…``), and it reads help text as
    rich markup, so the ``[config.key]`` hints vanish. Click's formatter wraps only the
    help text and never cuts a name. Typer keeps the mode per app, so it is set on each.
    """
    typer_app.rich_markup_mode = None
    for group in typer_app.registered_groups:
        if group.typer_instance is not None:
            plain_help(group.typer_instance)
    return typer_app


plain_help(app)


def _version(value: bool) -> None:
    if value:
        out.print(f"fakescope {fakescope.__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Detect AI-generated images: train, evaluate, scan, inspect."""


def main() -> None:
    """Console-script entry point (``fakescope = "fakescope.cli.app:main"``)."""
    app()


__all__ = ["app", "main"]
