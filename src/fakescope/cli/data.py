"""``fakescope data info``: what a dataset folder holds, per split, generator and label."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from fakescope.cli.common import ConfigOpt, SetOpt, build_config, cli_errors, out
from fakescope.cli.train import FamilyMapOpt, LayoutOpt, load_table

app = typer.Typer(help="Inspect datasets.", no_args_is_help=True)


@app.command("info")
def info(
    path: Annotated[
        Path, typer.Argument(help="Dataset root folder (or manifest).", show_default=False)
    ],
    layout: LayoutOpt = None,
    family_map: FamilyMapOpt = None,
    config: ConfigOpt = None,
    sets: SetOpt = None,
) -> None:
    """Print image counts per split, generator and label of the dataset at PATH."""
    with cli_errors():
        cfg = build_config(
            config, {"data.root": path, "data.layout": layout, "data.family_map": family_map}, sets
        )
        from fakescope.data.info import format_summary

        table = load_table(cfg.data)
        out.print(format_summary(table), markup=False, highlight=False)
