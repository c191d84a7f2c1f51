"""``fakescope ood``: out-of-distribution detection (``benchmark``: the CIFAR-10 OOD benchmark)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from fakescope.cli.common import cli_errors, out

app = typer.Typer(help="Out-of-distribution detection.", no_args_is_help=True)


@app.command("benchmark")
def benchmark(
    id_source: Annotated[
        Path,
        typer.Option(
            "--id", help="ID images: folder or .zip with train/<class>/ and test/<class>/."
        ),
    ],
    ood: Annotated[
        list[str],
        typer.Option(
            "--ood", help="An OOD set NAME=PATH (folder, .zip, or zip/sub/folder); repeatable."
        ),
    ],
    out_dir: Annotated[
        Path, typer.Option("--out", "-o", help="Output folder (model, cache, reports).")
    ],
    preset: Annotated[
        str, typer.Option("--preset", help="small (<= 20 min on 2 cores) or full.")
    ] = "small",
    synthetic: Annotated[
        bool,
        typer.Option(
            "--synthetic/--no-synthetic", help="Add synthetic outliers from ID test images."
        ),
    ] = True,
    seed: Annotated[int, typer.Option("--seed", help="Subsampling seed.")] = 0,
) -> None:
    """Train (or load) a CIFAR-10 classifier, fit every OOD scorer, score each OOD set."""
    with cli_errors():
        from fakescope.ood.benchmark import parse_ood, run_benchmark
        from fakescope.ood.report import write_ood_report

        result = run_benchmark(
            id_source,
            parse_ood(ood),
            out_dir,
            preset=preset,
            synthetic=synthetic,
            seed=seed,
            log=out.print,
        )
        write_ood_report(result, out_dir)
        out.print(f"ID accuracy {100 * result.id_accuracy:.2f}%; report in {out_dir / 'report.md'}")
        for row in result.rows:
            out.print(
                f"{row['scorer']:>12} {row['ood_set']:>14}  AUROC {100 * row['auroc']:6.2f}  FPR95 {100 * row['fpr95']:6.2f}"
            )
