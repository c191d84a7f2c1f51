"""``fakescope demo``: the README's main command (see :mod:`fakescope.demo`)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from fakescope.cli.common import ProgressOpt, cli_errors, out


def demo(
    out_dir: Annotated[
        Path, typer.Option("--out", "-o", help="Folder for the benchmark, report, model and scan.")
    ] = Path("demo-run"),
    preset: Annotated[
        str, typer.Option("--preset", "-p", help="Benchmark preset built from the bundled images.")
    ] = "mini",
    progress: ProgressOpt = True,
) -> None:
    """Build a small benchmark from bundled real images, train, evaluate, report, scan."""
    started = time.perf_counter()
    with cli_errors():
        from fakescope.demo import format_seconds, run_demo

        result = run_demo(out_dir, preset=preset, progress=progress)
        out.print("\nCross-generator ROC-AUC (rows: trained on, columns: tested on):")
        out.print(result.report.matrix().round(3).to_string())
        out.print(f"\nmodel bundle: {result.bundle}")
        out.print(f"scan results: {result.scan_csv}")
        out.print(f"[bold]HTML report: {result.report_html}[/bold]")
        stages = ", ".join(f"{k} {format_seconds(v)}" for k, v in result.seconds.items())
        out.print(f"stages: {stages}")
        out.print(f"[bold]demo finished in {format_seconds(time.perf_counter() - started)}[/bold]")
