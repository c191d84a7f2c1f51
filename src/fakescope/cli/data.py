"""``fakescope data info`` / ``data audit``: what a dataset holds, and whether its format gives it away."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from fakescope.cli.common import ConfigOpt, SetOpt, build_config, cli_errors, err, frame_table, out
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


@app.command("audit")
def audit(
    path: Annotated[
        Path, typer.Argument(help="Dataset root folder (or manifest).", show_default=False)
    ],
    layout: LayoutOpt = None,
    family_map: FamilyMapOpt = None,
    details: Annotated[
        bool, typer.Option("--details", help="Also print each property's rule accuracy.")
    ] = False,
    config: ConfigOpt = None,
    sets: SetOpt = None,
) -> None:
    """Can real and fake be told apart by the file format alone? Per generator/source.

    Reads every file's header (container, size, mode, JPEG quality and
    subsampling, EXIF/ICC) and reports the cross-validated AUC of a classifier
    that sees only those (header_auc; 0.5 = nothing to learn), the AUC of the
    file size per pixel, and the verdict: "shortcut" when header_auc >= 0.8.
    Fix a shortcut with data.normalize (see the printed hint).
    """
    with cli_errors():
        cfg = build_config(
            config, {"data.root": path, "data.layout": layout, "data.family_map": family_map}, sets
        )
        from fakescope.data.audit import PROPERTIES, audit_frame, audit_table, shortcut_warning
        from fakescope.data.prepare import index_config

        audits = audit_table(index_config(cfg.data))
        out.print(frame_table(audit_frame(audits), title="format audit"))
        if details:
            import pandas as pd

            rows = [{"source": a.source, **a.property_accuracy} for a in audits]
            out.print(frame_table(pd.DataFrame(rows, columns=["source", *PROPERTIES])))
        warning = shortcut_warning(audits)
        if warning:
            err.print(Text(f"warning: {warning}", style="yellow"))
        else:
            out.print("every source passes: the file format does not separate real from fake")
